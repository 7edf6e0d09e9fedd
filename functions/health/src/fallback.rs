//! The API's `$default` route: whatever request no route takes. API Gateway would answer those
//! with a bare `404 {"message":"Not Found"}`, even for a known path called with another
//! method; this answers as the rest of the API does, with a problem: `405 METHOD_NOT_ALLOWED`
//! and `Allow` (RFC 9110 §15.5.6) when the path exists with other methods, `404 NOT_FOUND`
//! otherwise. It reads nothing and needs no token: the routes are public in the OpenAPI
//! document anyway.

use hub_shared::http::{ApiRequest, Reply};
use hub_shared::{AppError, AppResult};

/// Every route of template.yaml but this function's own, `(METHOD, path)`; the template test
/// holds the two equal.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/analytics/records"),
    ("POST", "/api/analytics/records"),
    ("DELETE", "/api/analytics/records/{id}"),
    ("GET", "/api/analytics/records/{id}"),
    ("PATCH", "/api/analytics/records/{id}"),
    ("PUT", "/api/analytics/records/{id}"),
    ("POST", "/api/analytics/records/{id}/restore"),
    ("GET", "/api/analytics/summary"),
    ("GET", "/api/audit/logs"),
    ("GET", "/api/business/appointments"),
    ("POST", "/api/business/appointments"),
    ("POST", "/api/business/appointments/batch"),
    ("DELETE", "/api/business/appointments/{id}"),
    ("GET", "/api/business/appointments/{id}"),
    ("PATCH", "/api/business/appointments/{id}"),
    ("PUT", "/api/business/appointments/{id}"),
    ("POST", "/api/business/appointments/{id}/cancel"),
    ("POST", "/api/business/appointments/{id}/confirm"),
    ("POST", "/api/business/appointments/{id}/restore"),
    ("GET", "/api/business/contacts"),
    ("POST", "/api/business/contacts"),
    ("DELETE", "/api/business/contacts/bulk"),
    ("POST", "/api/business/contacts/batch"),
    ("DELETE", "/api/business/contacts/{id}"),
    ("GET", "/api/business/contacts/{id}"),
    ("PATCH", "/api/business/contacts/{id}"),
    ("PUT", "/api/business/contacts/{id}"),
    ("POST", "/api/business/contacts/{id}/anonymize"),
    ("GET", "/api/business/contacts/{id}/export"),
    ("GET", "/api/business/contacts/{id}/history"),
    ("POST", "/api/business/contacts/{id}/restore"),
    ("GET", "/api/business/documents"),
    ("POST", "/api/business/documents"),
    ("POST", "/api/business/documents/batch"),
    ("DELETE", "/api/business/documents/{id}"),
    ("GET", "/api/business/documents/{id}"),
    ("PATCH", "/api/business/documents/{id}"),
    ("PUT", "/api/business/documents/{id}"),
    ("POST", "/api/business/documents/{id}/approve"),
    ("POST", "/api/business/documents/{id}/complete"),
    ("GET", "/api/business/documents/{id}/download"),
    ("POST", "/api/business/documents/{id}/restore"),
    ("GET", "/api/business/documents/{id}/versions"),
    ("POST", "/api/business/documents/{id}/versions"),
    ("POST", "/api/business/exports"),
    ("GET", "/api/business/exports/{id}"),
    ("POST", "/api/business/imports"),
    ("GET", "/api/business/imports/{id}"),
    ("POST", "/api/business/imports/{id}/start"),
    ("GET", "/api/business/transactions"),
    ("POST", "/api/business/transactions"),
    ("POST", "/api/business/transactions/batch"),
    ("DELETE", "/api/business/transactions/{id}"),
    ("GET", "/api/business/transactions/{id}"),
    ("PATCH", "/api/business/transactions/{id}"),
    ("PUT", "/api/business/transactions/{id}"),
    ("POST", "/api/business/transactions/{id}/refund"),
    ("POST", "/api/business/transactions/{id}/restore"),
    ("GET", "/api/docs"),
    ("GET", "/api/docs/{asset}"),
    ("GET", "/api/health"),
    ("GET", "/api/openapi.json"),
    ("POST", "/api/realtime/tickets"),
];

/// The methods `path` answers to: those of the routes that match it with the most literal
/// segments, as API Gateway picks a route (`{name}` matches any one non-empty segment, and
/// `/contacts/bulk` is not `/contacts/{id}`).
pub fn allowed_methods(path: &str) -> Vec<&'static str> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let literals = |route: &str| -> Option<usize> {
        let segments: Vec<&str> = route.trim_matches('/').split('/').collect();
        if segments.len() != parts.len() {
            return None;
        }
        let mut literal = 0;
        for (segment, part) in segments.iter().zip(&parts) {
            if segment.starts_with('{') && segment.ends_with('}') {
                if part.is_empty() {
                    return None;
                }
            } else if segment == part {
                literal += 1;
            } else {
                return None;
            }
        }
        Some(literal)
    };
    let matching: Vec<(&'static str, usize)> =
        ROUTES.iter().filter_map(|(method, route)| literals(route).map(|l| (*method, l))).collect();
    let most = matching.iter().map(|(_, l)| *l).max().unwrap_or(0);
    let mut methods: Vec<&'static str> = matching.iter().filter(|(_, l)| *l == most).map(|(m, _)| *m).collect();
    methods.sort_unstable();
    methods.dedup();
    methods
}

pub async fn fallback(request: ApiRequest) -> AppResult<Reply> {
    let allowed = allowed_methods(&request.path);
    if allowed.is_empty() {
        Err(AppError::NotFound { resource: "route" })
    } else {
        Err(AppError::MethodNotAllowed { allow: allowed.join(", ") })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_known_path_lists_its_methods_and_an_unknown_one_none() {
        assert_eq!(allowed_methods("/api/business/contacts"), ["GET", "POST"]);
        assert_eq!(allowed_methods("/api/business/contacts/bulk"), ["DELETE"]);
        assert_eq!(allowed_methods("/api/business/contacts/x"), ["DELETE", "GET", "PATCH", "PUT"]);
        assert!(allowed_methods("/api/business/nothing").is_empty());
        assert!(allowed_methods("/api/business/contacts//restore").is_empty());
    }
}
