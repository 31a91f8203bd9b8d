//! Reading an Entra ID token from a token service's JSON answer, whatever
//! its shape (the v2.0 endpoint, IMDS, App Service, the Azure CLI).

use std::time::{Duration, SystemTime};

use super::{AccessToken, Secret};

/// A token from a token service's JSON answer, `asked` being when it was
/// asked for. The token is `access_token` (`accessToken` from the Azure
/// CLI); it expires `expires_in` seconds after it was asked for (which no
/// clock skew can spoil), else at `expires_on` (seconds since 1970).
/// Numbers may come as strings (IMDS sends them so).
pub(super) fn parse_token(body: &str, asked: SystemTime) -> Option<AccessToken> {
    let json: serde_json::Value = serde_json::from_str(body).ok()?;
    let text = |name: &str| json.get(name).and_then(|v| v.as_str()).map(str::to_owned);
    let seconds = |name: &str| -> Option<u64> {
        match json.get(name)? {
            serde_json::Value::Number(n) => n.as_u64(),
            serde_json::Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    };
    let token = text("access_token")
        .or_else(|| text("accessToken"))
        .filter(|t| !t.is_empty())?;
    let expires_on = match seconds("expires_in") {
        Some(lifetime) => asked + Duration::from_secs(lifetime),
        None => SystemTime::UNIX_EPOCH + Duration::from_secs(seconds("expires_on")?),
    };
    Some(AccessToken::new(Secret::new(token), expires_on))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_read_from_every_shape_of_answer() {
        let asked = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        // The v2.0 endpoint: a number of seconds.
        let v2 = parse_token(
            r#"{"token_type":"Bearer","expires_in":3599,"access_token":"abc"}"#,
            asked,
        )
        .expect("v2");
        assert_eq!(v2.secret.expose(), "abc");
        assert_eq!(v2.expires_on, asked + Duration::from_secs(3599));
        // IMDS: strings.
        let imds = parse_token(
            r#"{"access_token":"t","expires_in":"86399","expires_on":"1700000000","resource":"https://storage.azure.com/","token_type":"Bearer"}"#,
            asked,
        )
        .expect("imds");
        assert_eq!(imds.expires_on, asked + Duration::from_secs(86399));
        // App Service: only expires_on.
        let app = parse_token(r#"{"access_token":"t","expires_on":"1700000000"}"#, asked)
            .expect("app service");
        assert_eq!(
            app.expires_on,
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
        );
        // The Azure CLI.
        let cli = parse_token(
            r#"{"accessToken":"t","expiresOn":"2026-01-01 10:00:00.000000","expires_on":1700000000}"#,
            asked,
        )
        .expect("cli");
        assert_eq!(cli.secret.expose(), "t");
        assert!(parse_token(r#"{"access_token":"t"}"#, asked).is_none());
        assert!(parse_token(r#"{"access_token":"","expires_in":1}"#, asked).is_none());
        assert!(parse_token("<html>", asked).is_none());
    }
}
