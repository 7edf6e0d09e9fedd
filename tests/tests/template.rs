//! template.yaml against the rest of the repository: the local router, the binaries, and the
//! least-privilege rule. Each of these drifts silently otherwise: a route missing from the watch
//! router works once deployed and 404s locally; a binary renamed in Rust fails only at `sam build`;
//! a write action slipped into a read function's policy fails nothing at all.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use hub_infra::localenv::{self, Context};
use hub_infra::template::{Template, get_att};
use hub_infra::{router, workspace_root};
use std::collections::BTreeMap;

fn template() -> Template {
    Template::load_workspace().expect("template.yaml parses")
}

/// The only actions a read function may hold. An allow-list rather than a list of write actions,
/// so that a new or wildcard action (`dynamodb:*`, `dynamodb:Put*`) cannot slip through.
/// Reads are audited (an access record per read), so this rule has exactly one exception:
/// `dynamodb:PutItem` on the audit table ([`appends_to_the_audit_table_only`]).
const READ_ACTIONS: &[&str] = &["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "s3:GetObject"];

#[test]
fn every_template_route_has_a_watch_router_entry_and_vice_versa() {
    let template = template();
    let router = router::load_workspace().expect("the root Cargo.toml's router parses");
    assert!(!template.routes.is_empty(), "template.yaml has no HTTP routes");
    let diffs = router::differences(&template.routes, &router);
    assert!(
        diffs.is_empty(),
        "template.yaml and [workspace.metadata.lambda.watch.router] disagree:\n  {}",
        diffs.join("\n  ")
    );
}

#[test]
fn every_function_binary_exists_in_the_crate_its_code_uri_names() {
    let root = workspace_root();
    for function in template().functions.values() {
        let source = root.join(&function.code_uri).join("src/bin").join(format!("{}.rs", function.binary));
        assert!(
            function.code_uri.starts_with("functions/"),
            "{}: CodeUri {} is not a crate under functions/",
            function.logical_id,
            function.code_uri
        );
        assert!(source.is_file(), "{}: binary {} should be {}", function.logical_id, function.binary, source.display());
    }
}

#[test]
fn every_route_has_one_function_and_binaries_are_unique() {
    let template = template();
    let mut seen = BTreeMap::new();
    for function in template.functions.values() {
        if let Some(other) = seen.insert(function.binary.clone(), function.logical_id.clone()) {
            panic!("{} and {} share binary {}", other, function.logical_id, function.binary);
        }
    }
    let mut routes: Vec<_> = template.routes.iter().map(|r| (r.path.clone(), r.method.clone())).collect();
    let before = routes.len();
    routes.dedup();
    assert_eq!(before, routes.len(), "a (path, method) is routed twice");
}

#[test]
fn read_only_functions_are_granted_no_write_action() {
    let template = template();
    let mut checked = 0;
    for function in template.functions.values() {
        let routes: Vec<_> = template.routes.iter().filter(|r| r.function == function.logical_id).collect();
        let read_only =
            !routes.is_empty() && routes.iter().all(|r| r.method == "GET") && function.stream_sources.is_empty();
        if !read_only {
            continue;
        }
        checked += 1;
        assert!(
            function.named_policies.is_empty(),
            "{}: policies {:?} cannot be checked; use inline statements",
            function.logical_id,
            function.named_policies
        );
        for statement in &function.policy_statements {
            if statement.effect != "Allow" {
                continue;
            }
            for action in &statement.actions {
                assert!(
                    READ_ACTIONS.contains(&action.as_str()) || appends_to_the_audit_table_only(action, statement),
                    "{} serves only GET but is granted {action}",
                    function.logical_id
                );
            }
        }
    }
    assert!(checked > 0, "no read-only function found: is the rule still meaningful?");
}

/// `dynamodb:PutItem` on the audit table and nothing else: how a read function appends its
/// access records.
fn appends_to_the_audit_table_only(action: &str, statement: &hub_infra::template::PolicyStatement) -> bool {
    action == "dynamodb:PutItem"
        && !statement.resources.is_empty()
        && statement.resources.iter().all(|r| get_att(r).is_some_and(|(id, attr)| id == "AuditTable" && attr == "Arn"))
}

/// Every business function records accesses and denied attempts (401, 403, by-id 404) in the
/// audit trail, so each needs `HUB_AUDIT_TABLE` (from Globals) and `PutItem` on the audit table.
#[test]
fn every_business_function_may_append_access_records() {
    let template = template();
    let mut checked = 0;
    for function in template.functions.values() {
        let routed = template.routes.iter().any(|r| r.function == function.logical_id);
        if !routed || PUBLIC.contains(&function.binary.as_str()) {
            continue;
        }
        checked += 1;
        let may_append = function
            .policy_statements
            .iter()
            .any(|s| s.effect == "Allow" && s.actions.iter().any(|a| appends_to_the_audit_table_only(a, s)));
        assert!(may_append, "{} cannot append access records to the audit table", function.logical_id);
        let env = template.function_environment(function);
        assert!(env.contains_key("HUB_AUDIT_TABLE"), "{} has no HUB_AUDIT_TABLE", function.logical_id);
    }
    assert!(checked > 0);
}

/// The actions that read or write items by key: what `dynamodb:LeadingKeys` can limit.
const ITEM_ACTIONS: &[&str] = &[
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:Query",
];

/// Every key of the tables starts with its family (`ORG#<org>` for records, indexes, markers,
/// jobs and audit records; `KEY#<subject>` for the audit trail's erasure keys), so every grant
/// of item actions on a table names the families it may touch. A function whose code built a
/// key outside them (a bug, or an injected key) is refused by IAM, not only by our key
/// builders. The audit trail's indexes are keyed `ORG#<org>#...` too, so a Query granted on
/// them is limited by the same condition. Only a whole-table `Scan` (the on-demand maintenance
/// jobs) has no leading key.
#[test]
fn every_item_grant_on_a_table_is_limited_to_its_key_families() {
    let template = template();
    let mut checked = 0;
    for function in template.functions.values() {
        let id = &function.logical_id;
        for statement in function.policy_statements.iter().filter(|s| s.effect == "Allow") {
            let on_base_table = statement
                .resources
                .iter()
                .any(|r| get_att(r).is_some_and(|(t, attr)| attr == "Arn" && template.tables.contains_key(&t)));
            let item_actions = statement.actions.iter().any(|a| ITEM_ACTIONS.contains(&a.as_str()));
            let scans = statement.actions.iter().any(|a| a == "dynamodb:Scan");
            if !on_base_table || !item_actions || scans {
                continue;
            }
            checked += 1;
            let patterns: Vec<&str> = statement
                .condition
                .as_ref()
                .and_then(|c| c.get("ForAllValues:StringLike"))
                .and_then(|c| c.get("dynamodb:LeadingKeys"))
                .and_then(|k| k.as_sequence())
                .map(|k| k.iter().filter_map(|p| p.as_str()).collect())
                .unwrap_or_default();
            assert!(
                !patterns.is_empty(),
                "{id}: {:?} on {:?} without a ForAllValues:StringLike dynamodb:LeadingKeys condition",
                statement.actions,
                statement.resources
            );
            for pattern in patterns {
                assert!(
                    ["ORG#*", "KEY#*"].contains(&pattern),
                    "{id}: leading key pattern {pattern} is not a key family"
                );
            }
        }
    }
    assert!(checked > 100, "only {checked} item grants found: is the rule still meaningful?");
}

/// Functions that serve no record and need no caller: health, the OpenAPI document, its docs page.
const PUBLIC: &[&str] = &["health", "openapi-json", "docs", "fallback"];

/// The `$default` route's function answers 405 for a known path called with another method, so
/// it must know every route, exactly.
#[test]
fn the_default_route_knows_every_route_of_the_template() {
    let template = template();
    let default = template.default_route.as_ref().expect("a $default route");
    assert_eq!(default.binary, "fallback");
    let mut routed: Vec<(String, String)> =
        template.routes.iter().filter(|r| r.binary != "fallback").map(|r| (r.method.clone(), r.path.clone())).collect();
    routed.sort();
    let mut known: Vec<(String, String)> =
        hub_health::fallback::ROUTES.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    known.sort();
    assert_eq!(known, routed, "functions/health/src/fallback.rs ROUTES and template.yaml disagree");
}

#[test]
fn every_statement_is_scoped_to_a_resource_of_the_template() {
    let template = template();
    for function in template.functions.values() {
        for statement in &function.policy_statements {
            assert!(!statement.resources.is_empty(), "{}: a statement without Resource", function.logical_id);
            for resource in &statement.resources {
                if let Some(api) = websocket_management_arn(&template, resource) {
                    assert!(
                        statement.actions.iter().all(|a| a == "execute-api:ManageConnections"),
                        "{}: on {api}'s connections only ManageConnections",
                        function.logical_id
                    );
                    continue;
                }
                let target = get_att(resource).map(|(id, _)| id).or_else(|| {
                    // `!Sub "${Table.Arn}/index/*"` for indexes.
                    let (name, arg) = hub_infra::template::intrinsic(resource)?;
                    let text = arg.as_str().filter(|_| name == "Fn::Sub")?;
                    let inner = text.strip_prefix("${")?.split(['.', '}']).next()?;
                    Some(inner.to_string())
                });
                let target = target.unwrap_or_else(|| {
                    panic!("{}: resource {resource:?} is not a template resource's ARN", function.logical_id)
                });
                assert!(
                    template.tables.contains_key(&target)
                        || template.buckets.contains_key(&target)
                        || template.queues.contains_key(&target),
                    "{}: {target} is not a table, bucket or queue of the template",
                    function.logical_id
                );
            }
        }
    }
}

/// `!Sub "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${Api}/${Stage}/<VERB>/@connections/*"`
/// for a WebSocket API of the template and its own stage: the API its `@connections` calls
/// reach (a function may manage the connections of that API and stage, nothing wider).
fn websocket_management_arn(template: &Template, resource: &serde_yaml::Value) -> Option<String> {
    let (name, arg) = hub_infra::template::intrinsic(resource)?;
    let text = arg.as_str().filter(|_| name == "Fn::Sub")?;
    let rest = text.strip_prefix("arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${")?;
    let (api, rest) = rest.split_once("}/${")?;
    let (stage, rest) = rest.split_once('}')?;
    let verb = rest.strip_prefix('/')?.strip_suffix("/@connections/*")?;
    let known = template.websocket_apis.contains_key(api)
        && template.stages.get(stage).is_some_and(|s| s.api == api)
        && ["POST", "GET", "DELETE"].contains(&verb);
    known.then(|| api.to_string())
}

/// A function without an HTTP route is a stream consumer, and its event source mapping has what
/// keeps a stream in order and loses nothing: partial batch failures, bisection, bounded retries
/// and age, and a dead-letter queue of the template.
#[test]
fn functions_without_routes_consume_a_stream_with_bounded_retries_and_a_dead_letter_queue() {
    let template = template();
    let mut consumers = 0;
    for function in template.functions.values() {
        let default_route = template.default_route.as_ref().is_some_and(|r| r.function == function.logical_id);
        if default_route
            || template.routes.iter().any(|r| r.function == function.logical_id)
            || websocket_reached(&template, &function.logical_id)
        {
            continue;
        }
        // A scheduled job (retention) has neither: checked by
        // `scheduled_functions_run_daily_and_only_they_read_the_retention_index`; nor has an
        // on-demand repair job: `on_demand_functions_read_the_business_table_and_write_only_derived_data`.
        // Nor has a queue consumer: checked by
        // `every_consumed_queue_has_a_dead_letter_queue_and_outlasts_its_consumer_sixfold`.
        if !function.schedules.is_empty()
            || !function.queue_sources.is_empty()
            || ON_DEMAND.contains(&function.binary.as_str())
        {
            continue;
        }
        assert!(!function.stream_sources.is_empty(), "{} has neither a route nor a stream", function.logical_id);
        for source in &function.stream_sources {
            consumers += 1;
            let id = &function.logical_id;
            assert!(template.tables.contains_key(&source.table), "{id}: stream of an unknown table");
            // Notifications are the one consumer that starts at LATEST: when its mapping is
            // created there is no connection to tell of an older change, and a client that
            // connects later resumes from the event log or refetches (README, "Real-time
            // notifications"). Every other consumer derives data and must see every record.
            let starting = if NOTIFIERS.contains(&function.binary.as_str()) { "LATEST" } else { "TRIM_HORIZON" };
            assert_eq!(source.starting_position.as_deref(), Some(starting), "{id}: may skip records");
            assert!(source.reports_batch_item_failures, "{id}: without ReportBatchItemFailures a failure retries all");
            assert!(source.bisect_on_error, "{id}: a poison record would block the shard");
            assert!(
                source.maximum_retry_attempts.is_some_and(|n| (0..=10_000).contains(&n)),
                "{id}: unbounded retries"
            );
            assert!(source.maximum_record_age_seconds.is_some(), "{id}: unbounded record age");
            let dlq = source.on_failure.as_ref().unwrap_or_else(|| panic!("{id}: no on-failure destination"));
            assert!(
                template.queues.contains_key(dlq),
                "{id}: on-failure destination {dlq} is not a queue of the template"
            );
        }
    }
    assert!(consumers > 0, "no stream consumer found: is the audit function still in the template?");
}

/// A queue a function consumes loses nothing and delivers nothing twice for lack of time, as
/// AWS recommends: a dead-letter queue of the template keeps what fails `maxReceiveCount` times;
/// the visibility timeout is at least six times the consumer's timeout (a message being
/// processed, and its retries, are never handed to another invocation meanwhile); and the
/// consumer reports partial batch failures (without, one failed message retries the whole batch).
#[test]
fn every_consumed_queue_has_a_dead_letter_queue_and_outlasts_its_consumer_sixfold() {
    let template = template();
    for function in template.functions.values() {
        let id = &function.logical_id;
        for source in &function.queue_sources {
            let queue = &template.queues[&source.queue];
            let redrive =
                queue.redrive.as_ref().unwrap_or_else(|| panic!("{id}: {} has no RedrivePolicy", queue.logical_id));
            let dlq = &template.queues[&redrive.dead_letter_queue];
            assert!(dlq.redrive.is_none(), "{id}: the dead-letter queue {} redrives further", dlq.logical_id);
            // A DLQ must keep messages at least as long as its source, or they expire there first.
            let retention = |q: &hub_infra::template::Queue| q.message_retention_period.unwrap_or(345_600);
            assert!(retention(dlq) >= retention(queue), "{id}: {} keeps messages less long", dlq.logical_id);
            assert!(
                queue.visibility_timeout() >= 6 * function.timeout_seconds,
                "{id}: {}'s VisibilityTimeout {} is under 6 x the function's Timeout {}",
                queue.logical_id,
                queue.visibility_timeout(),
                function.timeout_seconds
            );
            assert!(source.reports_batch_item_failures, "{id}: without ReportBatchItemFailures a failure retries all");
            // The function may receive nothing itself: its event source mapping does.
            assert!(source.enabled, "{id}: a disabled event source mapping");
        }
    }
}

/// Stream consumers that tell clients of changes rather than derive data from them.
const NOTIFIERS: &[&str] = &["realtime-fanout"];

/// Whether a WebSocket API of the template invokes the function: a route's integration or an
/// authorizer.
fn websocket_reached(template: &Template, function: &str) -> bool {
    template.websocket_apis.values().flat_map(|api| &api.routes).any(|route| {
        route.integration.as_ref().is_some_and(|t| t.function == function)
            || route.authorizer.as_ref().is_some_and(|a| a.function.function == function)
    })
}

/// Every function is invoked by something of the template (an HTTP route, a WebSocket route,
/// a WebSocket authorizer, a stream, a queue, a schedule) or is an on-demand repair job: a function that
/// nothing invokes is dead code that still gets deployed and granted access.
#[test]
fn every_function_is_reached_by_a_route_an_authorizer_a_stream_or_a_schedule() {
    let template = template();
    for function in template.functions.values() {
        let id = &function.logical_id;
        let reached = template.routes.iter().any(|r| &r.function == id)
            || template.default_route.as_ref().is_some_and(|r| &r.function == id)
            || websocket_reached(&template, id)
            || !function.stream_sources.is_empty()
            || !function.schedules.is_empty()
            || function.queue_sources.iter().any(|q| q.enabled)
            || ON_DEMAND.contains(&function.binary.as_str());
        assert!(reached, "{id}: nothing of the template invokes it");
    }
}

/// The WebSocket API as API Gateway allows it: an authorizer on `$connect` only, with identity
/// sources (a request without them is refused before the function runs), and every route's
/// function a function of the template.
#[test]
fn the_websocket_api_authorizes_connect_only_and_every_route_has_a_function() {
    let template = template();
    assert!(!template.websocket_apis.is_empty(), "no WebSocket API: is realtime still in the template?");
    for api in template.websocket_apis.values() {
        assert!(api.stage.is_some(), "{}: no stage", api.logical_id);
        for route in &api.routes {
            let key = &route.route_key;
            if key == "$connect" {
                assert_eq!(route.authorization_type, "CUSTOM", "{}: $connect is not authorized", api.logical_id);
                let authorizer = route.authorizer.as_ref().expect("$connect's authorizer");
                assert!(
                    !authorizer.identity_sources.is_empty(),
                    "{}: an authorizer without identity source",
                    api.logical_id
                );
            } else {
                assert!(
                    route.authorizer.is_none(),
                    "{}: {key} has an authorizer (API Gateway: $connect only)",
                    api.logical_id
                );
            }
            let target =
                route.integration.as_ref().unwrap_or_else(|| panic!("{}: {key} has no integration", api.logical_id));
            assert!(template.functions.contains_key(&target.function), "{key}: {}", target.function);
        }
    }
}

/// A scheduled function (retention) has no route and no stream, runs at most daily, and is the
/// only kind of function allowed to Query the business table's cross-organization retention
/// index: an HTTP function reading it could reach another organization's records.
#[test]
fn scheduled_functions_run_daily_and_only_they_read_the_retention_index() {
    let template = template();
    let mut scheduled = 0;
    for function in template.functions.values() {
        let routed = template.routes.iter().any(|r| r.function == function.logical_id);
        let reads_retention_index = function.policy_statements.iter().any(|s| {
            s.effect == "Allow"
                && s.resources.iter().any(|r| {
                    hub_infra::template::intrinsic(r)
                        .and_then(|(_, arg)| arg.as_str().map(|t| t.contains("/index/retention")))
                        .unwrap_or(false)
                })
        });
        if function.schedules.is_empty() {
            assert!(
                !reads_retention_index,
                "{} is not scheduled but may read the retention index",
                function.logical_id
            );
            continue;
        }
        scheduled += 1;
        assert!(!routed && function.stream_sources.is_empty(), "{}: a scheduled job only", function.logical_id);
        for (expression, dead_letter) in function.schedules.iter().zip(&function.schedule_dead_letters) {
            assert!(
                expression == "rate(1 day)" || expression.starts_with("cron("),
                "{}: schedule {expression} is not daily",
                function.logical_id
            );
            // A run that keeps failing is kept, never dropped.
            let queue =
                dead_letter.as_ref().unwrap_or_else(|| panic!("{}: a schedule without DLQ", function.logical_id));
            assert!(
                template.queues.contains_key(queue),
                "{}: {queue} is not a queue of the template",
                function.logical_id
            );
        }
    }
    assert!(scheduled > 0, "no scheduled function: is retention still in the template?");
}

/// Audit records are append-only: no function may update or delete anything in the audit table.
#[test]
fn no_function_may_change_or_delete_audit_records() {
    let template = template();
    assert!(template.tables.contains_key("AuditTable"));
    let mut writers = 0;
    for function in template.functions.values() {
        for statement in function.policy_statements.iter().filter(|s| s.effect == "Allow") {
            let on_audit = statement.resources.iter().any(|r| {
                get_att(r).is_some_and(|(id, _)| id == "AuditTable")
                    || hub_infra::template::intrinsic(r)
                        .and_then(|(_, arg)| arg.as_str().map(|t| t.contains("${AuditTable")))
                        .unwrap_or(false)
            });
            if !on_audit {
                continue;
            }
            for action in &statement.actions {
                assert!(
                    ["dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:Query"].contains(&action.as_str()),
                    "{} is granted {action} on the audit table",
                    function.logical_id
                );
                writers += usize::from(action == "dynamodb:PutItem");
            }
        }
    }
    assert!(writers > 0, "nothing writes the audit table");
}

#[test]
fn the_template_environment_resolves_for_the_local_stack() {
    let template = template();
    let names = hub_infra::provision::names_with_prefix(&template, "t-");
    // Parameters without a default are the ones the stack must supply; supply them here too.
    let parameters = template
        .parameters
        .values()
        .filter(|p| p.default.is_none())
        .map(|p| (p.name.clone(), "x".repeat(32)))
        .collect();
    let apis = localenv::local_apis(&template, "127.0.0.1:9000", "127.0.0.1:9001");
    // Queue URLs are the emulator's, known once the queues exist; any will do here.
    let queue_urls =
        template.queues.keys().map(|id| (id.clone(), format!("http://127.0.0.1:1/q/{}", names[id]))).collect();
    let ctx = Context { parameters, names, stream_arns: BTreeMap::new(), queue_urls, stack_name: "test".into(), apis };
    let env = localenv::functions_environment(&template, &ctx).expect("environment resolves");
    assert_eq!(env.get("HUB_TABLE").map(String::as_str), Some("t-BusinessTable"));
    assert_eq!(env.get("HUB_AUDIT_TABLE").map(String::as_str), Some("t-AuditTable"));
    // The WebSocket API's URLs are the local gateway's.
    assert_eq!(env.get("HUB_REALTIME_URL").map(String::as_str), Some("ws://127.0.0.1:9001/live"));
    assert_eq!(env.get("HUB_REALTIME_MANAGEMENT_URL").map(String::as_str), Some("http://127.0.0.1:9001/live"));
}

/// Functions invoked by an operator only (no route, no stream, no schedule): repair jobs.
const ON_DEMAND: &[&str] = &["analytics-rebuild"];

/// An on-demand repair job is invoked by an operator only, never writes a business record (it
/// recomputes derived data: the analytics counters), and is the only kind of function that may
/// `Scan` (its maintenance read of every organization's id); no HTTP function may.
#[test]
fn on_demand_functions_read_the_business_table_and_write_only_derived_data() {
    let template = template();
    let mut on_demand = 0;
    for function in template.functions.values() {
        let id = &function.logical_id;
        let routed = template.routes.iter().any(|r| r.function == function.logical_id);
        let scans = function.policy_statements.iter().any(|s| s.actions.iter().any(|a| a == "dynamodb:Scan"));
        if !ON_DEMAND.contains(&function.binary.as_str()) {
            assert!(!scans, "{id} may Scan, but only on-demand maintenance jobs may");
            continue;
        }
        on_demand += 1;
        assert!(!routed && function.stream_sources.is_empty() && function.schedules.is_empty(), "{id}: on demand only");
        for statement in function.policy_statements.iter().filter(|s| s.effect == "Allow") {
            let on_business = statement.resources.iter().any(|r| get_att(r).is_some_and(|(t, _)| t == "BusinessTable"));
            if on_business {
                for action in &statement.actions {
                    assert!(
                        ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan"].contains(&action.as_str()),
                        "{id} is granted {action} on the business table"
                    );
                }
            }
        }
    }
    assert_eq!(on_demand, ON_DEMAND.len(), "an on-demand function of ON_DEMAND is missing from the template");
}

/// Only the analytics functions touch the analytics table, and the summary (an HTTP read) only
/// with `BatchGetItem`.
#[test]
fn only_analytics_functions_use_the_analytics_table_and_the_summary_only_reads_it() {
    let template = template();
    assert!(template.tables.contains_key("AnalyticsTable"));
    let mut checked = 0;
    for function in template.functions.values() {
        for statement in function.policy_statements.iter().filter(|s| s.effect == "Allow") {
            let on_analytics =
                statement.resources.iter().any(|r| get_att(r).is_some_and(|(t, _)| t == "AnalyticsTable"));
            if !on_analytics {
                continue;
            }
            checked += 1;
            let id = &function.logical_id;
            assert!(
                function.binary.starts_with("analytics-"),
                "{id} is not an analytics function but may use the analytics table"
            );
            if function.binary == "analytics-summary" {
                assert_eq!(statement.actions, ["dynamodb:BatchGetItem"], "{id}");
            }
        }
    }
    assert!(checked >= 3, "the summary, the stream consumer and the rebuild use the analytics table");
}

/// The functions' own CORS answer (what `cargo lambda watch` alone, or a direct invocation,
/// shows) and API Gateway's (template.yaml, which replaces it when deployed) expose the same
/// response headers, so the frontend reads the same ones wherever it runs.
#[test]
fn the_functions_and_the_http_api_expose_the_same_response_headers() {
    let text = std::fs::read_to_string(workspace_root().join("template.yaml")).unwrap();
    let template = Template::parse(&text).unwrap();
    let ctx = Context {
        parameters: [("CorsAllowedOrigins".to_string(), "http://localhost:5173".to_string())].into(),
        ..Context::default()
    };
    let cors = hub_infra::gateway::Cors::from_template(&text, &template, &ctx).unwrap().expect("CorsConfiguration");
    let adapter: Vec<String> = hub_shared::http::EXPOSED_HEADERS.split(", ").map(String::from).collect();
    assert_eq!(cors.expose_headers, adapter);
}
