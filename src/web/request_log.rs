//! The request log's span: `tracing-actix-web`'s fields, with credentials in the query string
//! (a visitor's token on file downloads and uploads, a signed link's signature) replaced by
//! `REDACTED`, so the log never holds anything that lets its reader act as someone.

use actix_web::{
    Error,
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
};
use tracing::Span;
use tracing_actix_web::{DefaultRootSpanBuilder, RootSpanBuilder};

/// Query parameters whose values are credentials.
const SECRET_PARAMETERS: [&str; 3] = ["visitor_token", "signature", "token"];

/// The request's path and query with the values of [`SECRET_PARAMETERS`] hidden.
pub fn redacted_target(path: &str, query: &str) -> String {
    if query.is_empty() {
        return path.to_owned();
    }
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if SECRET_PARAMETERS.contains(&name) => format!("{name}=REDACTED"),
            _ => pair.to_owned(),
        })
        .collect();
    format!("{path}?{}", pairs.join("&"))
}

/// [`DefaultRootSpanBuilder`]'s span with a redacted `http.target` and without `http.route`:
/// the route is found by matching the path against every route's pattern once more (regular
/// expressions; 40 µs a request, 2 % of the server's time under bench S2's agent replies),
/// and the target already names the path.
pub struct RedactingRootSpan;

impl RootSpanBuilder for RedactingRootSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let target = redacted_target(request.path(), request.query_string());
        let connection = request.connection_info();
        tracing::info_span!(
            "HTTP request",
            http.method = %request.method(),
            http.target = %target,
            http.client_ip = %connection.realip_remote_addr().unwrap_or(""),
            http.status_code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
            exception.message = tracing::field::Empty,
            exception.details = tracing::field::Empty,
        )
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

#[cfg(test)]
mod tests {
    use super::redacted_target;

    #[test]
    fn credentials_in_the_query_are_hidden_and_the_rest_is_kept() {
        assert_eq!(
            redacted_target("/files/abc", "visitor_token=secret&download=1"),
            "/files/abc?visitor_token=REDACTED&download=1"
        );
        assert_eq!(
            redacted_target("/files/abc", "expires=17&signature=deadbeef"),
            "/files/abc?expires=17&signature=REDACTED"
        );
        assert_eq!(redacted_target("/inbox", ""), "/inbox");
        assert_eq!(
            redacted_target("/ws/widget", "key=public"),
            "/ws/widget?key=public"
        );
    }
}
