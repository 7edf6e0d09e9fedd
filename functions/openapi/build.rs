//! Takes Swagger UI's assets out of the release archive that the crates.io crate
//! `utoipa-swagger-ui-vendored` carries, into `OUT_DIR`, for `src/docs.rs` to embed. Nothing is
//! fetched: the archive came with the crate from the registry, like any other dependency.

use std::io::Read;
use std::path::PathBuf;

/// The files the docs page loads; the rest of the archive (sources, other bundles) is left out.
const ASSETS: &[&str] = &["swagger-ui-bundle.js", "swagger-ui.css"];

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default());
    let archive = std::io::Cursor::new(utoipa_swagger_ui_vendored::SWAGGER_UI_VENDORED);
    let mut zip = match zip::ZipArchive::new(archive) {
        Ok(zip) => zip,
        Err(err) => panic!("the vendored Swagger UI archive cannot be read: {err}"),
    };
    let mut hashes = String::new();
    for asset in ASSETS {
        let name = (0..zip.len())
            .filter_map(|i| zip.name_for_index(i).map(str::to_string))
            .find(|n| n.ends_with(&format!("/dist/{asset}")))
            .unwrap_or_else(|| panic!("{asset} is not in the vendored Swagger UI archive"));
        let mut file = zip.by_name(&name).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        drop(file);
        // A content hash in the page's asset URLs lets browsers cache them for good.
        hashes.push_str(&format!("pub const {}: &str = \"{:016x}\";\n", const_name(asset), fnv1a(&bytes)));
        std::fs::write(out.join(asset), bytes).unwrap_or_else(|e| panic!("{asset}: {e}"));
    }
    std::fs::write(out.join("asset_hashes.rs"), hashes).unwrap_or_else(|e| panic!("asset_hashes.rs: {e}"));
    println!("cargo:rerun-if-changed=build.rs");
}

fn const_name(asset: &str) -> String {
    asset.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect::<String>()
        + "_HASH"
}

/// FNV-1a, 64 bits: stable across toolchains, which is all a cache-busting key needs.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| (hash ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3))
}
