//! `/api/docs`: Swagger UI over `/api/openapi.json`, every byte served by this function. The
//! Swagger UI files come from the crates.io crate `utoipa-swagger-ui-vendored` (see `build.rs`),
//! the page and its initializer are ours, and a CSP limited to our own origin makes sure the
//! page can load nothing else (so it works offline, and a compromised asset cannot exfiltrate).

use hub_shared::error::{AppError, AppResult};
use hub_shared::http::{ApiRequest, Reply};

mod hashes {
    include!(concat!(env!("OUT_DIR"), "/asset_hashes.rs"));
}

const BUNDLE: &str = include_str!(concat!(env!("OUT_DIR"), "/swagger-ui-bundle.js"));
const STYLES: &str = include_str!(concat!(env!("OUT_DIR"), "/swagger-ui.css"));

/// Starts Swagger UI once its script has loaded. A file, not an inline script, so the CSP can
/// forbid inline scripts altogether. `validatorUrl: null` turns off the badge that would call
/// swagger.io.
const INITIALIZER: &str = r##"window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/api/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
"##;

/// The assets under `/api/docs/{asset}`, by name.
pub const ASSET_NAMES: &[&str] = &["swagger-ui-bundle.js", "swagger-ui.css", "hub-docs.js"];

const JAVASCRIPT: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const HTML: &str = "text/html; charset=utf-8";

/// Only our own origin; `img-src data:` for the icons Swagger UI's style sheet inlines.
/// Inline style attributes are set by Swagger UI's React through the DOM, which CSP allows.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; \
    frame-ancestors 'none'";

/// The page: assets by absolute path, with a content hash so they can be cached for good. The
/// empty `data:` icon keeps the browser from asking for `/favicon.ico`, a route the API lacks.
pub fn page() -> String {
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Hub API</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/api/docs/swagger-ui.css?v={css}">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/api/docs/swagger-ui-bundle.js?v={bundle}"></script>
<script src="/api/docs/hub-docs.js?v={init}"></script>
</body>
</html>
"#,
        css = hashes::SWAGGER_UI_CSS_HASH,
        bundle = hashes::SWAGGER_UI_BUNDLE_JS_HASH,
        init = env!("CARGO_PKG_VERSION"),
    )
}

/// An asset's body and content type.
pub fn asset(name: &str) -> Option<(&'static str, &'static str)> {
    match name {
        "swagger-ui-bundle.js" => Some((BUNDLE, JAVASCRIPT)),
        "swagger-ui.css" => Some((STYLES, CSS)),
        "hub-docs.js" => Some((INITIALIZER, JAVASCRIPT)),
        _ => None,
    }
}

/// The handler of `GET /api/docs` and `GET /api/docs/{asset}`.
pub async fn docs(request: ApiRequest) -> AppResult<Reply> {
    let reply = match request.path_params.get("asset") {
        None => Reply::text(page(), HTML),
        Some(name) => {
            let (body, content_type) = asset(name).ok_or(AppError::NotFound { resource: "docs asset" })?;
            Reply::text(body.to_string(), content_type)
        }
    };
    Ok(with_security_headers(reply))
}

/// Headers every answer of the docs and the document carries.
pub fn with_security_headers(reply: Reply) -> Reply {
    reply
        .with_header(http::HeaderName::from_static("content-security-policy"), CONTENT_SECURITY_POLICY)
        .with_header(http::header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .with_header(http::header::REFERRER_POLICY, "no-referrer")
        .with_header(http::header::X_FRAME_OPTIONS, "DENY")
}
