//! Sets top-level fields of a request body that progenitor already
//! serialised, in the operation's own encoding: the request hook's way to
//! add what is signed at send time (a client assertion, a JWT bearer
//! grant's `assertion`). A field already there keeps its place.

use reqwest::Request;
use reqwest::header::CONTENT_LENGTH;
use serde_json::Value;

use crate::BodyEncoding;

/// Why the fields cannot be set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum BodyFieldsError {
    /// The operation sends no body.
    #[error("this operation sends no request body to carry it")]
    NoBody,
    /// The JSON body is not an object.
    #[error("the request body is not a JSON object")]
    NotAnObject,
}

/// Sets each `(name, value)` in the body: replaced where the name is
/// there, appended otherwise. A multipart body is still a form here (the
/// hook converts it after).
pub(crate) fn set_fields(
    request: &mut Request,
    body: BodyEncoding,
    fields: &[(&str, &str)],
) -> Result<(), BodyFieldsError> {
    let current = request
        .body()
        .and_then(|body| body.as_bytes())
        .unwrap_or_default();
    let new_body = match body {
        BodyEncoding::None => return Err(BodyFieldsError::NoBody),
        BodyEncoding::FormUrlencoded | BodyEncoding::Multipart => {
            let mut pairs: Vec<(String, String)> =
                form_urlencoded::parse(current).into_owned().collect();
            for (name, value) in fields {
                match pairs.iter_mut().find(|(n, _)| n == name) {
                    Some(pair) => pair.1 = (*value).to_owned(),
                    None => pairs.push(((*name).to_owned(), (*value).to_owned())),
                }
            }
            form_urlencoded::Serializer::new(String::new())
                .extend_pairs(pairs)
                .finish()
                .into_bytes()
        }
        BodyEncoding::Json => {
            let mut json: Value = match current {
                [] => Value::Object(Default::default()),
                bytes => serde_json::from_slice(bytes).map_err(|_| BodyFieldsError::NotAnObject)?,
            };
            let object = json.as_object_mut().ok_or(BodyFieldsError::NotAnObject)?;
            for (name, value) in fields {
                object.insert((*name).to_owned(), (*value).into());
            }
            serde_json::to_vec(&json).map_err(|_| BodyFieldsError::NotAnObject)?
        }
    };
    request.headers_mut().remove(CONTENT_LENGTH);
    *request.body_mut() = Some(new_body.into());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(body: &str) -> Request {
        let mut request = Request::new(
            reqwest::Method::POST,
            "http://127.0.0.1:1/t".parse().unwrap(),
        );
        *request.body_mut() = Some(body.to_owned().into());
        request
    }

    fn body(request: &Request) -> String {
        String::from_utf8(request.body().unwrap().as_bytes().unwrap().to_vec()).unwrap()
    }

    #[test]
    fn a_field_there_keeps_its_place_and_a_new_one_is_appended() {
        let mut form = request("grant_type=x&assertion=placeholder&scope=a+b");
        set_fields(
            &mut form,
            BodyEncoding::FormUrlencoded,
            &[("assertion", "a.b.c"), ("extra", "1 2")],
        )
        .unwrap();
        assert_eq!(
            body(&form),
            "grant_type=x&assertion=a.b.c&scope=a+b&extra=1+2"
        );
        let mut json = request(r#"{"assertion":"placeholder","n":1}"#);
        set_fields(&mut json, BodyEncoding::Json, &[("assertion", "a.b.c")]).unwrap();
        let value: Value = serde_json::from_str(&body(&json)).unwrap();
        assert_eq!(value, serde_json::json!({"assertion": "a.b.c", "n": 1}));
    }

    #[test]
    fn no_body_or_one_that_is_no_object_is_refused() {
        let mut none = request("");
        let error = set_fields(&mut none, BodyEncoding::None, &[("a", "b")]).unwrap_err();
        assert_eq!(error, BodyFieldsError::NoBody);
        let mut list = request("[1]");
        let error = set_fields(&mut list, BodyEncoding::Json, &[("a", "b")]).unwrap_err();
        assert_eq!(error, BodyFieldsError::NotAnObject);
    }
}
