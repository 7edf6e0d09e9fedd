//! The emulator and provisioning, against a real moto server (installed by `infra/hub`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use aws_sdk_dynamodb::types::{StreamViewType, TimeToLiveStatus};
use hub_infra::moto::{MotoServer, dynamodb_client};
use hub_infra::provision::{create_table, names_with_prefix, provision};
use hub_infra::template::Template;
use std::sync::LazyLock;

/// One server for this test binary, as the integration tests use it. It is never dropped: the
/// supervisor's lifeline stops it when the binary exits.
static MOTO: LazyLock<MotoServer> =
    LazyLock::new(|| MotoServer::start().expect("moto starts (run `infra/hub bootstrap` first)"));

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

#[tokio::test]
async fn the_business_table_is_created_as_the_template_defines_it() {
    let template = Template::load_workspace().unwrap();
    let client = dynamodb_client(MOTO.endpoint());
    let name = unique("business");
    let created = create_table(&client, template.table("BusinessTable").unwrap(), &name).await.unwrap();
    assert_eq!(created.name, name);
    assert!(created.stream_arn.is_some());

    let table = client.describe_table().table_name(&name).send().await.unwrap().table.unwrap();
    let keys: Vec<(String, String)> = table
        .key_schema()
        .iter()
        .map(|k| (k.attribute_name().to_string(), k.key_type().as_str().to_string()))
        .collect();
    assert_eq!(keys, [("pk".into(), "HASH".into()), ("sk".into(), "RANGE".into())]);
    let stream = table.stream_specification().unwrap();
    assert!(stream.stream_enabled());
    assert_eq!(stream.stream_view_type(), Some(&StreamViewType::NewAndOldImages));

    let ttl = client.describe_time_to_live().table_name(&name).send().await.unwrap().time_to_live_description.unwrap();
    assert_eq!(ttl.attribute_name(), Some("expires_at"));
    assert_eq!(ttl.time_to_live_status(), Some(&TimeToLiveStatus::Enabled));
}

#[tokio::test]
async fn provisioning_twice_keeps_the_table() {
    let template = Template::load_workspace().unwrap();
    let client = dynamodb_client(MOTO.endpoint());
    let names = names_with_prefix(&template, &format!("{}-", unique("twice")));
    let first = provision(&client, &template, &names).await.unwrap();
    let second = provision(&client, &template, &names).await.unwrap();
    assert_eq!(first, second);
}

#[tokio::test]
async fn an_existing_table_with_other_keys_is_refused() {
    let template = Template::load_workspace().unwrap();
    let client = dynamodb_client(MOTO.endpoint());
    let name = unique("drift");
    let mut other = template.table("BusinessTable").unwrap().clone();
    other.key_schema.truncate(1);
    other.attributes.retain(|a| a.attribute_name == "pk");
    // A table of another shape altogether: its indexes named attributes it no longer defines.
    other.global_secondary_indexes.clear();
    other.local_secondary_indexes.clear();
    create_table(&client, &other, &name).await.unwrap();
    let err = create_table(&client, template.table("BusinessTable").unwrap(), &name).await.unwrap_err();
    assert!(err.to_string().contains("exists with keys"), "{err}");
}

#[test]
fn a_stopped_server_no_longer_answers() {
    let server = MotoServer::start().unwrap();
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], server.port()));
    let timeout = std::time::Duration::from_secs(2);
    assert!(hub_infra::http::get_status(addr, "/", timeout).is_ok());
    server.stop().unwrap();
    assert!(hub_infra::http::get_status(addr, "/", timeout).is_err());
}

/// The stream relay reads through one shard iterator for the life of the stack: a cancelled
/// transaction must add nothing to what it reads, and the writes after it must still reach it.
#[tokio::test]
async fn a_cancelled_transaction_leaves_nothing_in_the_stream_and_later_writes_still_arrive() {
    use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
    let template = Template::load_workspace().unwrap();
    let client = dynamodb_client(MOTO.endpoint());
    let name = unique("cancelled");
    let created = create_table(&client, template.table("BusinessTable").unwrap(), &name).await.unwrap();
    let streams = hub_infra::relay::streams_client(MOTO.endpoint(), hub_infra::LOCAL_REGION);
    let arn = created.stream_arn.unwrap();
    let put = |sk: &str| {
        let item = Put::builder()
            .table_name(&name)
            .item("pk", AttributeValue::S("ORG#1".into()))
            .item("sk", AttributeValue::S(sk.into()))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .unwrap();
        TransactWriteItem::builder().put(item).build()
    };
    let commit = |items: Vec<TransactWriteItem>| client.transact_write_items().set_transact_items(Some(items)).send();
    commit(vec![put("first")]).await.unwrap();
    let mut readers = hub_infra::relay::ShardReader::all(&streams, &arn).await.unwrap();
    let mut read = Vec::new();
    for reader in &mut readers {
        read.extend(reader.next_batch(100).await.unwrap());
    }
    // `phantom` would be written, then `first` fails its condition: the whole is cancelled.
    let cancelled = commit(vec![put("phantom"), put("first")]).await;
    assert!(cancelled.is_err(), "the transaction is cancelled");
    commit(vec![put("after")]).await.unwrap();
    for reader in &mut readers {
        read.extend(reader.next_batch(100).await.unwrap());
    }
    let keys: Vec<&str> = read.iter().filter_map(|r| r["dynamodb"]["Keys"]["sk"]["S"].as_str()).collect();
    assert_eq!(keys, ["first", "after"]);
}

/// A relay whose iterator expired (a laptop that slept: DynamoDB's and the emulator's
/// iterators last 15 minutes) takes up exactly where it was: nothing read twice, nothing missed.
#[tokio::test]
async fn a_reader_whose_iterator_expired_goes_on_from_where_it_was() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let moto = MotoServer::start_with(hub_infra::moto::MotoOptions {
        env: vec![("MOTO_SERIAL_ITERATOR_TTL_SECONDS".into(), "1".into())],
        ..hub_infra::moto::MotoOptions::default()
    })
    .unwrap();
    let template = Template::load_workspace().unwrap();
    let client = dynamodb_client(moto.endpoint());
    let name = unique("expired");
    let created = create_table(&client, template.table("BusinessTable").unwrap(), &name).await.unwrap();
    let streams = hub_infra::relay::streams_client(moto.endpoint(), hub_infra::LOCAL_REGION);
    let put = |sk: &'static str| {
        client
            .put_item()
            .table_name(&name)
            .item("pk", AttributeValue::S("ORG#1".into()))
            .item("sk", AttributeValue::S(sk.into()))
            .send()
    };
    let keys = |records: &[serde_json::Value]| -> Vec<String> {
        records.iter().filter_map(|r| r["dynamodb"]["Keys"]["sk"]["S"].as_str().map(String::from)).collect()
    };
    put("one").await.unwrap();
    put("two").await.unwrap();
    let mut reader =
        hub_infra::relay::ShardReader::all(&streams, &created.stream_arn.unwrap()).await.unwrap().remove(0);
    assert_eq!(keys(&reader.next_batch(1).await.unwrap()), ["one"]);
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    put("three").await.unwrap();
    let expired = reader.next_batch(10).await;
    assert!(format!("{expired:?}").contains("Expired"), "the old iterator expired: {expired:?}");
    reader.reopen().await.unwrap();
    assert_eq!(keys(&reader.next_batch(10).await.unwrap()), ["two", "three"]);
}

/// A mapping that starts at `LATEST` (realtime-fanout's: notifications of what changed before
/// it existed would reach nobody) reads only what is written after its reader opened, then
/// every record from there, as a `TRIM_HORIZON` reader does.
#[tokio::test]
async fn a_reader_at_latest_skips_what_was_written_before_it_and_nothing_after() {
    use aws_sdk_dynamodb::types::AttributeValue;
    use hub_infra::relay::{ShardReader, StartingPosition};
    let template = Template::load_workspace().unwrap();
    let client = dynamodb_client(MOTO.endpoint());
    let name = unique("latest");
    let created = create_table(&client, template.table("BusinessTable").unwrap(), &name).await.unwrap();
    let streams = hub_infra::relay::streams_client(MOTO.endpoint(), hub_infra::LOCAL_REGION);
    let arn = created.stream_arn.unwrap();
    let put = |sk: &'static str| {
        client
            .put_item()
            .table_name(&name)
            .item("pk", AttributeValue::S("ORG#1".into()))
            .item("sk", AttributeValue::S(sk.into()))
            .send()
    };
    put("before").await.unwrap();
    let mut latest = ShardReader::all_at(&streams, &arn, StartingPosition::Latest).await.unwrap();
    let mut horizon = ShardReader::all_at(&streams, &arn, StartingPosition::TrimHorizon).await.unwrap();
    put("after").await.unwrap();
    put("later").await.unwrap();
    assert_eq!(keys_read(&mut latest).await, ["after", "later"]);
    assert_eq!(keys_read(&mut horizon).await, ["before", "after", "later"]);
}

/// The sort keys of the records the readers read next.
async fn keys_read(readers: &mut [hub_infra::relay::ShardReader]) -> Vec<String> {
    let mut keys = Vec::new();
    for reader in readers {
        for record in reader.next_batch(100).await.unwrap() {
            keys.push(record["dynamodb"]["Keys"]["sk"]["S"].as_str().unwrap().to_string());
        }
    }
    keys
}

/// The emulator's own patches (infra/moto_serial.py), checked by infra/moto_soak.py against a
/// server without them: a cancelled transaction is rolled back item by item (no table copy, no
/// model kept after a request), leaving tables, indexes and streams exactly as moto itself
/// would; stream records are trimmed after their retention with iterators still valid; a Query
/// reading only its partition answers exactly as moto's whole-table Query; attribute values
/// serialized and parsed directly are byte for byte what moto's generic code makes of them;
/// stream records kept compact and items kept with interned strings and slotted values read back
/// exactly as moto's own.
#[test]
fn the_emulators_patches_keep_moto_semantics_and_leave_nothing_behind() {
    let root = hub_infra::workspace_root();
    let python = hub_infra::venv_bin(&root, "python");
    for args in [
        vec!["check"],
        vec!["trim"],
        vec!["query", "--seed", "3", "--query-items", "600", "--queries", "40", "--query-rounds", "1"],
        vec!["serialize", "--serialize-items", "120"],
        vec!["records", "--records-rounds", "300", "--records-writes", "150"],
    ] {
        let output = std::process::Command::new(&python)
            .arg(root.join("infra/moto_soak.py"))
            .args(&args)
            .output()
            .unwrap_or_else(|e| panic!("moto_soak.py: {e}"));
        assert!(
            output.status.success(),
            "moto_soak.py {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
