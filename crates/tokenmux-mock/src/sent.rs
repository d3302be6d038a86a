//! What a token request sent, read where a spec can place a value: the
//! body (JSON, a form or multipart, as a JSON value), the query string,
//! the headers and the path's `{name}` segments.

use axum::http::{HeaderMap, Uri, header};
use bytes::Bytes;
use serde_json::{Map, Value};
use tokenmux_wire::Place;

use crate::state::media_type;

/// Everything a request sent that a spec can place a value in.
pub(crate) struct Sent {
    body: Value,
    query: Vec<(String, String)>,
    path: Vec<(&'static str, String)>,
    headers: HeaderMap,
}

impl Sent {
    /// What was sent to `uri` (served at the spec's path `template`), with
    /// this body (already read) and these headers.
    pub(crate) fn new(body: Value, uri: &Uri, template: &'static str, headers: HeaderMap) -> Self {
        Self {
            body,
            query: form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
                .into_owned()
                .collect(),
            path: path_values(template, uri.path()),
            headers,
        }
    }

    /// The text sent at `place`, if any.
    pub(crate) fn text(&self, place: Place) -> Option<&str> {
        match place {
            Place::Body(pointer) => self.body.pointer(pointer).and_then(Value::as_str),
            Place::Query(name) => self
                .query
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.as_str()),
            Place::Path(name) => self
                .path
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| value.as_str()),
            Place::Header(name) => self.headers.get(name).and_then(|v| v.to_str().ok()),
        }
    }
}

/// The values of a path template's `{name}` segments in a request path
/// (which ends with the template: the mock serves it under a prefix).
fn path_values(template: &'static str, path: &str) -> Vec<(&'static str, String)> {
    let (template, sent): (Vec<&str>, Vec<&str>) =
        (template.split('/').collect(), path.split('/').collect());
    let offset = sent.len().saturating_sub(template.len());
    template
        .iter()
        .zip(&sent[offset..])
        .filter_map(|(part, value)| {
            let name = part.strip_prefix('{')?.strip_suffix('}')?;
            let value = percent_encoding::percent_decode_str(value)
                .decode_utf8()
                .ok()?;
            Some((name, value.into_owned()))
        })
        .collect()
}

pub(crate) enum BodyError {
    MediaType(&'static str),
    NotAnObject,
}

/// The body as a JSON value: JSON as sent, a form or multipart as a flat
/// object of strings.
pub(crate) async fn read_body(
    documented: Option<&'static str>,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Value, BodyError> {
    let documented = documented.unwrap_or("application/json");
    let sent = media_type(headers);
    let essence = documented.split(';').next().unwrap_or_default().trim();
    let vendor_json = essence.starts_with("application/") && essence.ends_with("+json");
    let json = || match serde_json::from_slice(&body) {
        Ok(Value::Object(fields)) => Ok(Value::Object(fields)),
        _ => Err(BodyError::NotAnObject),
    };
    if vendor_json {
        // JSON:API: the media type exactly, without parameters.
        let exact = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        return match exact == Some(essence) {
            true => json(),
            false => Err(BodyError::MediaType(documented)),
        };
    }
    let flat = |pairs: Vec<(String, String)>| {
        Value::Object(
            pairs
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect::<Map<_, _>>(),
        )
    };
    match sent.as_deref() {
        Some("application/json") => json(),
        Some("application/x-www-form-urlencoded") => {
            Ok(flat(form_urlencoded::parse(&body).into_owned().collect()))
        }
        Some("multipart/form-data") => Ok(flat(
            multipart_fields(headers, body).await.unwrap_or_default(),
        )),
        _ => Err(BodyError::MediaType(
            "JSON, a url-encoded form or multipart/form-data",
        )),
    }
}

/// The text fields of a multipart body; `None` when it is not valid multipart.
async fn multipart_fields(headers: &HeaderMap, body: Bytes) -> Option<Vec<(String, String)>> {
    let content_type = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let boundary = multer::parse_boundary(content_type).ok()?;
    let stream = futures_util::stream::once(async move { Ok::<_, std::io::Error>(body) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut fields = Vec::new();
    while let Some(field) = multipart.next_field().await.ok()? {
        let name = field.name()?.to_owned();
        fields.push((name, field.text().await.ok()?));
    }
    Some(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_read_where_the_spec_places_them() {
        let uri: Uri = "/installation/app/installations/42%2Fx/access_tokens?app_key=me&lang=de"
            .parse()
            .unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-app-key", "k".parse().unwrap());
        let body = serde_json::json!({"data": {"id": "b"}});
        let template = "/app/installations/{installation_id}/access_tokens";
        let sent = Sent::new(body, &uri, template, headers);
        assert_eq!(sent.text(Place::Path("installation_id")), Some("42/x"));
        assert_eq!(sent.text(Place::Query("app_key")), Some("me"));
        assert_eq!(sent.text(Place::Header("X-App-Key")), Some("k"));
        assert_eq!(sent.text(Place::Body("/data/id")), Some("b"));
        assert_eq!(sent.text(Place::Query("missing")), None);
    }
}
