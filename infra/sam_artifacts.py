"""Lays out `.aws-sam/build` as `sam build` would, from one cargo-lambda build of every function.

`sam build` runs one cargo-lambda invocation per function, each with its own fat-LTO link, one
after the other (about an hour for the whole template on 2 cores). `infra/hub deploy-build`
builds every binary in a single cargo invocation instead (dependencies once, links in parallel),
then this script puts each function's `bootstrap` where `sam build` would and writes the built
template beside them, with each function's `CodeUri` pointing at its directory. `sam deploy`
then deploys it exactly as it deploys the output of `sam build`.

Usage: sam_artifacts.py TEMPLATE LAMBDA_DIR BUILD_DIR
  TEMPLATE    the SAM template (template.yaml)
  LAMBDA_DIR  cargo-lambda's output (target/lambda: <binary>/bootstrap)
  BUILD_DIR   where to lay the artifacts out (.aws-sam/build), emptied first
"""

import os
import pathlib
import shutil
import sys

from samcli.yamlhelper import parse_yaml_file, yaml_dump

ELF_MAGIC = b"\x7fELF"
EM_AARCH64 = 0xB7


def fail(message: str) -> "None":
    print(f"sam_artifacts: {message}", file=sys.stderr)
    sys.exit(1)


def check_bootstrap(path: pathlib.Path, architecture: str) -> None:
    """The file is a 64-bit little-endian ELF for the function's architecture."""
    if not path.is_file():
        fail(f"{path} is missing: was the function's binary built?")
    header = path.read_bytes()[:20]
    if len(header) < 20 or header[:4] != ELF_MAGIC or header[4] != 2 or header[5] != 1:
        fail(f"{path} is not a 64-bit little-endian ELF executable")
    machine = int.from_bytes(header[18:20], "little")
    if architecture == "arm64" and machine != EM_AARCH64:
        fail(f"{path} is not an arm64 binary (ELF machine {machine:#x}); the function is arm64")


def main() -> None:
    if len(sys.argv) != 4:
        fail(__doc__.strip().splitlines()[-4])
    template_path, lambda_dir, build_dir = (pathlib.Path(a) for a in sys.argv[1:])
    template = parse_yaml_file(str(template_path))
    global_arch = template.get("Globals", {}).get("Function", {}).get("Architectures", ["x86_64"])

    if build_dir.exists():
        shutil.rmtree(build_dir)
    build_dir.mkdir(parents=True)

    functions = 0
    for logical_id, resource in template.get("Resources", {}).items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        metadata = resource.get("Metadata", {})
        properties = resource.setdefault("Properties", {})
        binary = metadata.get("BuildProperties", {}).get("Binary")
        if metadata.get("BuildMethod") != "rust-cargolambda" or not binary:
            fail(f"{logical_id}: not a rust-cargolambda function with BuildProperties.Binary")
        architectures = properties.get("Architectures", global_arch)
        if architectures != ["arm64"]:
            fail(f"{logical_id}: built for arm64 only, the template says {architectures}")
        source = lambda_dir / binary / "bootstrap"
        check_bootstrap(source, "arm64")
        target = build_dir / logical_id
        target.mkdir()
        shutil.copy2(source, target / "bootstrap")
        os.chmod(target / "bootstrap", 0o755)
        # Relative to the built template, as `sam build` writes it.
        properties["CodeUri"] = logical_id
        functions += 1

    if functions == 0:
        fail(f"{template_path} declares no function")
    (build_dir / "template.yaml").write_text(yaml_dump(template))
    print(f"{functions} functions laid out in {build_dir}")


if __name__ == "__main__":
    main()
