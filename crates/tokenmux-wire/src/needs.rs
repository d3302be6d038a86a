//! Which credentials and parameters an endpoint needs from its user: one
//! answer, read from the spec, that the builder, config files, the CLI
//! and the agent all ask.

use crate::client_auth::client_auth_method;
use crate::endpoint::{CredentialRole, EndpointSpec, GrantKind, ParameterSpec};

/// What a spec's primary grant needs: credentials by role (those the
/// body marks, and those its client authentication uses), credentials it
/// takes when given, and the parameters of every grant.
///
/// ```
/// use tokenmux_wire::{CredentialRole, EndpointSpec, Needs};
/// # fn example(spec: &EndpointSpec) {
/// let needs = Needs::of(spec);
/// let missing = needs.missing(|role| role == CredentialRole::ClientId);
/// println!("give {}", tokenmux_wire::Needs::list(&missing));
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Needs {
    required: Vec<CredentialRole>,
    optional: Vec<CredentialRole>,
    parameters: Vec<ParameterSpec>,
}

impl Needs {
    /// What the user must give for `spec`'s endpoint: the one answer to
    /// "which credentials and parameters does it need".
    pub fn of(spec: &EndpointSpec) -> Needs {
        let mut required = Vec::new();
        let mut optional = Vec::new();
        if let Some(grant) = spec.grant(GrantKind::Primary) {
            required.extend(grant.body_roles());
            let method = client_auth_method(grant.wire.auth);
            required.extend(method.roles());
            optional.extend(grant.optional_roles());
            optional.extend(method.optional_roles());
        }
        // In one order (the roles' own), each once.
        let ordered = |roles: &[CredentialRole]| -> Vec<CredentialRole> {
            CredentialRole::ALL
                .into_iter()
                .filter(|role| roles.contains(role))
                .collect()
        };
        let required = ordered(&required);
        optional.retain(|role| !required.contains(role));
        Needs {
            optional: ordered(&optional),
            required,
            parameters: spec.parameters(),
        }
    }

    /// The credential roles a token request cannot go without.
    pub fn required(&self) -> &[CredentialRole] {
        &self.required
    }

    /// The credential roles sent when given.
    pub fn optional(&self) -> &[CredentialRole] {
        &self.optional
    }

    /// Whether `role` is needed.
    pub fn requires(&self, role: CredentialRole) -> bool {
        self.required.contains(&role)
    }

    /// Whether `role` is used at all, needed or sent when given.
    pub fn uses(&self, role: CredentialRole) -> bool {
        self.requires(role) || self.optional.contains(&role)
    }

    /// Whether a resource owner's username or password is needed (the
    /// OAuth2 password grant).
    pub fn resource_owner(&self) -> bool {
        self.requires(CredentialRole::Username) || self.requires(CredentialRole::Password)
    }

    /// The parameters any grant takes, each once, in spec order.
    pub fn parameters(&self) -> &[ParameterSpec] {
        &self.parameters
    }

    /// The needed roles that `has` says are not given.
    pub fn missing(&self, has: impl Fn(CredentialRole) -> bool) -> Vec<CredentialRole> {
        self.required
            .iter()
            .copied()
            .filter(|role| !has(*role))
            .collect()
    }

    /// Roles as a sentence part: `client_id, client_secret and password`.
    ///
    /// ```
    /// use tokenmux_wire::{CredentialRole::*, Needs};
    /// assert_eq!(Needs::list(&[ClientId, ClientSecret, Password]), "client_id, client_secret and password");
    /// assert_eq!(Needs::list(&[RefreshToken]), "refresh_token");
    /// ```
    pub fn list(roles: &[CredentialRole]) -> String {
        let names: Vec<&str> = roles.iter().map(|role| role.name()).collect();
        match names.split_last() {
            None => String::new(),
            Some((last, [])) => (*last).to_owned(),
            Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::endpoint::{FieldValue, RequestField};
    use crate::{ClientAuth, test_spec};
    use CredentialRole::*;

    fn field(pointer: &'static str, value: FieldValue) -> RequestField {
        RequestField {
            place: crate::Place::Body(pointer),
            value,
        }
    }

    #[test]
    fn body_roles_and_the_client_authentication_decide_what_is_needed() {
        // The password grant with Basic client authentication.
        let password = test_spec::with(
            vec![
                field("/username", FieldValue::Credential(Username)),
                field("/password", FieldValue::Credential(Password)),
            ],
            ClientAuth::Basic,
        );
        let needs = Needs::of(password);
        assert_eq!(
            needs.required(),
            [ClientId, ClientSecret, Username, Password]
        );
        assert!(needs.resource_owner());
        assert_eq!(
            needs.missing(|role| role == ClientId || role == Username),
            [ClientSecret, Password]
        );

        // A public client: its secret sent only when given.
        let public = test_spec::with(
            vec![
                field("/client_id", FieldValue::Credential(ClientId)),
                field(
                    "/client_secret",
                    FieldValue::OptionalCredential(ClientSecret),
                ),
            ],
            ClientAuth::None,
        );
        let needs = Needs::of(public);
        assert_eq!(needs.required(), [ClientId]);
        assert_eq!(needs.optional(), [ClientSecret]);
        assert!(needs.uses(ClientSecret) && !needs.requires(ClientSecret));
        assert!(!needs.resource_owner());

        // A username-only endpoint needs no client id at all.
        let owner_only = test_spec::with(
            vec![
                field("/login", FieldValue::Credential(Username)),
                field("/password", FieldValue::Credential(Password)),
            ],
            ClientAuth::None,
        );
        assert_eq!(Needs::of(owner_only).required(), [Username, Password]);
        assert!(!Needs::of(owner_only).uses(ClientId));
    }

    #[test]
    fn a_primary_grant_that_presents_a_refresh_token_needs_one_and_serves_refreshes() {
        let spec = test_spec::with(
            vec![
                field("/grant_type", FieldValue::Constant("refresh_token")),
                field("/refresh_token", FieldValue::Credential(RefreshToken)),
            ],
            ClientAuth::Basic,
        );
        assert_eq!(
            Needs::of(spec).required(),
            [ClientId, ClientSecret, RefreshToken]
        );
        let primary = spec.grant(GrantKind::Primary).unwrap();
        assert_eq!(spec.grant_for(GrantKind::Refresh), Some(primary));
        assert_eq!(spec.grant_for(GrantKind::Primary), Some(primary));

        // A client-credentials spec has no grant for a refresh.
        let plain = test_spec::with(Vec::new(), ClientAuth::Basic);
        assert_eq!(plain.grant_for(GrantKind::Refresh), None);
    }
}
