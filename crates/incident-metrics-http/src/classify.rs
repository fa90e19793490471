//! [`PathClassifier`]: how a stack without axum names a request's route.

use std::fmt;

/// Gives the route template (the `path` label) of a request when no axum
/// `MatchedPath` is present, for tower stacks that route by other means.
///
/// The template is borrowed from the classifier itself (or is `'static`),
/// never from the request: a label must come from a bounded set. Return `None`
/// for a request that matches no route; it is counted under the layer's
/// unmatched value.
///
/// Any `Fn(&http::Uri) -> Option<&'static str>` closure is a classifier.
///
/// # Examples
///
/// ```
/// use incident_metrics_http::PathClassifier;
///
/// let classify = |uri: &http::Uri| match uri.path() {
///     "/" => Some("/"),
///     p if p.starts_with("/users/") => Some("/users/{id}"),
///     _ => None,
/// };
/// let uri: http::Uri = "/users/42?x=1".parse().unwrap();
/// let parts = http::Request::get(uri.clone()).body(()).unwrap().into_parts().0;
/// assert_eq!(classify.classify(&parts.method, &uri, &parts.extensions), Some("/users/{id}"));
/// ```
pub trait PathClassifier: Send + Sync + 'static {
    /// The route template of the request with this method, URI and
    /// extensions, or `None` when it matched no route.
    fn classify(
        &self,
        method: &http::Method,
        uri: &http::Uri,
        extensions: &http::Extensions,
    ) -> Option<&str>;
}

impl<F> PathClassifier for F
where
    F: Fn(&http::Uri) -> Option<&'static str> + Send + Sync + 'static,
{
    #[inline]
    fn classify(
        &self,
        _method: &http::Method,
        uri: &http::Uri,
        _extensions: &http::Extensions,
    ) -> Option<&str> {
        self(uri)
    }
}

/// A classifier from a fixed list of route templates whose segments are
/// literal or `{param}` placeholders (`{*rest}` matches the remainder), tried
/// in order. It walks the path segment by segment: no allocation, no hashing.
///
/// # Examples
///
/// ```
/// use incident_metrics_http::{PathClassifier, RouteTemplates};
///
/// let routes = RouteTemplates::new(["/api/v1/incidents", "/api/v1/incidents/{id}", "/static/{*file}"]);
/// let classify = |path: &str| {
///     let uri: http::Uri = path.parse().unwrap();
///     routes.classify(&http::Method::GET, &uri, &http::Extensions::new()).map(str::to_owned)
/// };
/// assert_eq!(classify("/api/v1/incidents/7").as_deref(), Some("/api/v1/incidents/{id}"));
/// assert_eq!(classify("/api/v1/incidents").as_deref(), Some("/api/v1/incidents"));
/// assert_eq!(classify("/static/css/site.css").as_deref(), Some("/static/{*file}"));
/// assert_eq!(classify("/api/v1/incidents/7/x"), None);
/// ```
#[derive(Clone)]
pub struct RouteTemplates {
    templates: Box<[Box<str>]>,
}

impl RouteTemplates {
    /// A classifier for these templates, tried in the order given.
    pub fn new<I, T>(templates: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        Self {
            templates: templates
                .into_iter()
                .map(|t| t.into().into_boxed_str())
                .collect(),
        }
    }
}

impl fmt::Debug for RouteTemplates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.templates.iter()).finish()
    }
}

impl PathClassifier for RouteTemplates {
    fn classify(
        &self,
        _method: &http::Method,
        uri: &http::Uri,
        _extensions: &http::Extensions,
    ) -> Option<&str> {
        let path = uri.path();
        self.templates
            .iter()
            .find(|t| matches(t, path))
            .map(|t| &**t)
    }
}

fn matches(template: &str, path: &str) -> bool {
    let mut want = template.split('/');
    let mut have = path.split('/');
    loop {
        match (want.next(), have.next()) {
            (None, None) => return true,
            (Some(w), _) if w.starts_with("{*") && w.ends_with('}') => return true,
            (Some(w), Some(h)) => {
                let param = w.len() > 2 && w.starts_with('{') && w.ends_with('}');
                if !(param && !h.is_empty() || w == h) {
                    return false;
                }
            }
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn segment_matching() {
        assert!(matches("/", "/"));
        assert!(matches("/a/{id}", "/a/1"));
        assert!(!matches("/a/{id}", "/a/"));
        assert!(!matches("/a/{id}", "/a"));
        assert!(!matches("/a", "/a/1"));
        assert!(matches("/a/{*rest}", "/a/b/c"));
        assert!(!matches("/b/{id}", "/a/1"));
    }
}
