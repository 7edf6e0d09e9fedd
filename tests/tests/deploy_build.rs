//! `infra/hub deploy-build`'s layout step (infra/sam_artifacts.py): from cargo-lambda's output it
//! must make what `sam build` makes, one directory per function with its `bootstrap`, and a built
//! template that is the same template (functions, routes, policies, stream sources, CloudFormation
//! tags) with each `CodeUri` pointing at that directory. The arm64 build itself is too slow for
//! CI; its binaries are stood in for by ELF headers, which the script checks.

use hub_infra::template::Template;
use serde_yaml::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

/// The first 20 bytes of a 64-bit little-endian ELF executable for `machine`, and some padding.
fn elf(machine: u16) -> Vec<u8> {
    let mut bytes = vec![0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0];
    bytes.extend_from_slice(&machine.to_le_bytes());
    bytes.resize(64, 0);
    bytes
}

const EM_AARCH64: u16 = 0xb7;
const EM_X86_64: u16 = 0x3e;

fn lay_out(lambda_dir: &Path, build_dir: &Path) -> std::process::Output {
    let root = workspace_root();
    Command::new(hub_infra::venv_bin(&root, "python"))
        .arg(root.join("infra/sam_artifacts.py"))
        .arg(root.join("template.yaml"))
        .arg(lambda_dir)
        .arg(build_dir)
        .output()
        .unwrap_or_else(|e| panic!("python: {e} (infra/hub bootstrap installs .venv)"))
}

/// `value` with every short-form intrinsic (`!Ref X`, `!GetAtt A.B`, `!Sub ...`) in the long
/// form (`{Ref: X}`, `{Fn::GetAtt: [A, B]}`, `{Fn::Sub: ...}`), which is how `sam build` (and
/// this layout, with SAM's own YAML writer) writes the built template; CloudFormation reads both.
fn long_form(value: &Value) -> Value {
    match value {
        Value::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let name = tag.trim_start_matches('!');
            let inner = long_form(&tagged.value);
            let inner = match (name, &inner) {
                ("GetAtt", Value::String(dotted)) => match dotted.split_once('.') {
                    Some((resource, attribute)) => Value::Sequence(vec![resource.into(), attribute.into()]),
                    None => inner,
                },
                _ => inner,
            };
            let key = if name == "Ref" || name == "Condition" { name.to_string() } else { format!("Fn::{name}") };
            let mut mapping = serde_yaml::Mapping::new();
            mapping.insert(Value::String(key), inner);
            Value::Mapping(mapping)
        }
        Value::Sequence(items) => Value::Sequence(items.iter().map(long_form).collect()),
        Value::Mapping(mapping) => Value::Mapping(mapping.iter().map(|(k, v)| (k.clone(), long_form(v))).collect()),
        other => other.clone(),
    }
}

fn same<'a>(built: impl IntoIterator<Item = &'a Value>, original: impl IntoIterator<Item = &'a Value>) -> bool {
    let built: Vec<Value> = built.into_iter().map(long_form).collect();
    let original: Vec<Value> = original.into_iter().map(long_form).collect();
    built == original
}

fn fake_lambda_dir(dir: &Path, template: &Template, machine: u16) {
    for function in template.functions.values() {
        let bin = dir.join(&function.binary);
        std::fs::create_dir_all(&bin).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(bin.join("bootstrap"), elf(machine)).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn the_layout_is_what_sam_build_makes() {
    let original = Template::load_workspace().unwrap_or_else(|e| panic!("{e}"));
    let scratch = tempdir("layout");
    let lambda_dir = scratch.join("lambda");
    let build_dir = scratch.join("build");
    fake_lambda_dir(&lambda_dir, &original, EM_AARCH64);
    // A stale artifact of an earlier build must not survive into this one.
    std::fs::create_dir_all(build_dir.join("RemovedFunction")).unwrap_or_else(|e| panic!("{e}"));

    let output = lay_out(&lambda_dir, &build_dir);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(!build_dir.join("RemovedFunction").exists());

    // CloudFormation's linter takes the built template as it takes template.yaml.
    let lint = Command::new(hub_infra::venv_bin(&workspace_root(), "cfn-lint"))
        .arg(build_dir.join("template.yaml"))
        .output()
        .unwrap_or_else(|e| panic!("cfn-lint: {e} (infra/hub bootstrap installs it)"));
    assert!(
        lint.status.success(),
        "cfn-lint refuses the built template:\n{}{}",
        String::from_utf8_lossy(&lint.stdout),
        String::from_utf8_lossy(&lint.stderr)
    );

    let built = Template::load(build_dir.join("template.yaml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(built.functions.len(), original.functions.len());
    assert_eq!(built.routes, original.routes);
    assert_eq!(built.default_route, original.default_route);
    assert_eq!(built.tables.keys().collect::<Vec<_>>(), original.tables.keys().collect::<Vec<_>>());
    assert_eq!(built.queues, original.queues);
    assert!(built.global_environment.keys().eq(original.global_environment.keys()));
    assert!(same(built.global_environment.values(), original.global_environment.values()));
    for (id, function) in &original.functions {
        let copy = &built.functions[id];
        assert_eq!(copy.code_uri, *id, "{id}: CodeUri must name its artifact directory");
        assert_eq!(copy.binary, function.binary);
        // Policies, stream sources and environments keep their intrinsic functions (!GetAtt, !Ref, !Sub).
        assert_eq!(copy.policy_statements.len(), function.policy_statements.len(), "{id}");
        for (a, b) in copy.policy_statements.iter().zip(&function.policy_statements) {
            assert_eq!((&a.effect, &a.actions), (&b.effect, &b.actions), "{id}");
            assert!(same(&a.resources, &b.resources), "{id}: {:?} against {:?}", a.resources, b.resources);
            assert_eq!(a.condition, b.condition, "{id}");
        }
        assert_eq!(copy.named_policies, function.named_policies, "{id}");
        assert_eq!(copy.stream_sources, function.stream_sources, "{id}");
        assert_eq!(copy.schedules, function.schedules, "{id}");
        assert_eq!(copy.schedule_dead_letters, function.schedule_dead_letters, "{id}");
        assert!(copy.environment.keys().eq(function.environment.keys()), "{id}");
        assert!(same(copy.environment.values(), function.environment.values()), "{id}");
        let bootstrap = build_dir.join(id).join("bootstrap");
        let bytes = std::fs::read(&bootstrap).unwrap_or_else(|e| panic!("{}: {e}", bootstrap.display()));
        assert_eq!(bytes, elf(EM_AARCH64));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&bootstrap).map(|m| m.permissions().mode()).unwrap_or(0);
        assert_eq!(mode & 0o111, 0o111, "{id}: bootstrap must be executable");
    }
}

#[test]
fn a_missing_or_foreign_binary_stops_the_layout() {
    let template = Template::load_workspace().unwrap_or_else(|e| panic!("{e}"));
    let scratch = tempdir("refused");

    let x86 = scratch.join("x86");
    fake_lambda_dir(&x86, &template, EM_X86_64);
    let output = lay_out(&x86, &scratch.join("build-x86"));
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("not an arm64 binary"));

    let partial = scratch.join("partial");
    fake_lambda_dir(&partial, &template, EM_AARCH64);
    let gone = template.functions.values().next().map(|f| f.binary.clone()).unwrap_or_default();
    std::fs::remove_file(partial.join(&gone).join("bootstrap")).unwrap_or_else(|e| panic!("{e}"));
    let output = lay_out(&partial, &scratch.join("build-partial"));
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("is missing"));
}

fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hub-deploy-build-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    dir
}
