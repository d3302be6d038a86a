//! The network rules, one implementation each: which hosts are this
//! machine, a URL without its `user:password@`, and the causes inside an
//! error chain (a TLS failure, a reply over the Redis cap).

use std::borrow::Cow;
use std::error::Error;

/// Whether `host` (a URL's host, IPv6 in brackets or not) names this
/// machine: 127.0.0.0/8, `::1`, `localhost` or a name under `.localhost`
/// (RFC 6761). An IPv4-mapped IPv6 address is another host.
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return ip.is_loopback();
    }
    let name = host.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

/// `url` without a `user:password@` part (a builder refuses such URLs; a
/// key made directly must not carry the password into a store either).
pub fn without_userinfo(url: &str) -> Cow<'_, str> {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) if has_userinfo(&parsed) => {
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            parsed.to_string().into()
        }
        // A URL with an authority has no userinfo left to hide.
        Ok(parsed) if parsed.has_host() => url.into(),
        // Not a URL with a host (`me:pw@host` parses as scheme `me`): keep
        // nothing before a possible userinfo separator.
        _ => match url.rsplit_once('@') {
            Some((_, host)) => host.to_owned().into(),
            None => url.into(),
        },
    }
}

/// Whether `url` has a user or a password.
pub fn has_userinfo(url: &reqwest::Url) -> bool {
    !url.username().is_empty() || url.password().is_some()
}

/// The first `T` among `error` and its causes. I/O errors wrap their
/// cause (sometimes twice) and their `source` skips it, and the redis
/// crate keeps causes in an `Arc` whose `source` skips it too: the walk
/// goes into both.
pub fn find_cause<'a, T: Error + 'static>(error: &'a (dyn Error + 'static)) -> Option<&'a T> {
    type Shared = std::sync::Arc<dyn Error + Send + Sync>;
    let mut next: Option<&(dyn Error + 'static)> = Some(error);
    while let Some(mut error) = next {
        if let Some(shared) = error.downcast_ref::<Shared>() {
            error = shared.as_ref();
        }
        if let Some(found) = error.downcast_ref::<T>() {
            return Some(found);
        }
        next = match error.downcast_ref::<std::io::Error>() {
            Some(io) => io.get_ref().map(|inner| inner as &(dyn Error + 'static)),
            None => error.source(),
        };
    }
    None
}

/// Whether rustls failed somewhere in `error`'s causes (an HTTP or a
/// Redis connection).
pub fn is_tls_failure(error: &(dyn Error + 'static)) -> bool {
    find_cause::<rustls::Error>(error).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_one_rule_for_addresses_and_names() {
        for host in [
            "127.0.0.1",
            "127.9.9.9",
            "::1",
            "[::1]",
            "localhost",
            "LocalHost.",
            "a.localhost",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "10.0.0.5",
            "::ffff:127.0.0.1",
            "localhost.example.com",
            "example.com",
            "",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }

    #[test]
    fn userinfo_is_removed_from_urls_and_from_what_is_not_one() {
        assert_eq!(
            without_userinfo("https://me:pw@auth.example.com/x"),
            "https://auth.example.com/x"
        );
        assert_eq!(
            without_userinfo("https://auth.example.com/"),
            "https://auth.example.com/"
        );
        assert_eq!(without_userinfo("me:pw@auth example"), "auth example");
    }

    #[test]
    fn internationalized_hosts_are_mapped_by_uts_46() {
        // url's IDNA backend is chosen in Cargo.lock (idna_adapter ~1.1,
        // unicode-rs; see the workspace's Cargo.toml). The ASCII-only
        // adapter (1.0) would refuse these hosts.
        let url = reqwest::Url::parse("https://B\u{fc}cher.example/oauth/token").unwrap();
        assert_eq!(url.host_str(), Some("xn--bcher-kva.example"));
        let arabic = reqwest::Url::parse("https://\u{645}\u{62b}\u{627}\u{644}.example/").unwrap();
        assert_eq!(arabic.host_str(), Some("xn--mgbh0fb.example"));
        assert_eq!(
            without_userinfo("https://me:pw@b\u{fc}cher.example/x"),
            "https://xn--bcher-kva.example/x"
        );
        // A host UTS 46 disallows is refused, not passed on.
        assert!(reqwest::Url::parse("https://a\u{2488}b.example/").is_err());
    }

    #[test]
    fn causes_are_found_through_io_errors_and_shared_ones() {
        #[derive(Debug, thiserror::Error)]
        #[error("inner")]
        struct Inner;
        let io = std::io::Error::other(Inner);
        assert!(find_cause::<Inner>(&io).is_some());
        let shared: std::sync::Arc<dyn Error + Send + Sync> = std::sync::Arc::new(io);
        assert!(find_cause::<Inner>(&shared).is_some());
        let tls = std::io::Error::other(rustls::Error::DecryptError);
        assert!(is_tls_failure(&tls));
        assert!(!is_tls_failure(&std::io::Error::other("plain")));
    }
}
