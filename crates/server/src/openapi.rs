//! The API's OpenAPI 3.1 document (`GET /api/openapi.json`). It is generated from the code:
//! each handler's `#[utoipa::path]` (its route, body and answers), the parameter tables its
//! handler reads with ([`crate::params::Param`]), and the `ToSchema` derives beside the types'
//! serde derives; a flow's columns come from the flow table (`flow::columns`) as every export
//! has them. The routes themselves are registered from the same annotations
//! (`utoipa_axum::routes!`), so a route cannot exist without its documentation.

use flow::columns::{Column, ColumnType};
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::openapi::schema::{
    ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, SchemaFormat, SchemaType, Type,
};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{
    ContentBuilder, OpenApi, RefOr, Required, ResponseBuilder, SecurityRequirement,
};
use utoipa::{PartialSchema, ToSchema};

use crate::auth::{CSRF_HEADER, SESSION_COOKIE};
use crate::params::{Kind, Param, LIMIT};

/// The schema of what a parameter of `kind` takes.
pub fn kind_schema(kind: Kind) -> Schema {
    let string = || ObjectBuilder::new().schema_type(Type::String);
    let address = || {
        OneOfBuilder::new()
            .item(string().format(Some(SchemaFormat::Custom("ipv4".into()))))
            .item(string().format(Some(SchemaFormat::Custom("ipv6".into()))))
    };
    match kind {
        Kind::Text | Kind::Search | Kind::Cursor => string().into(),
        Kind::Time => string()
            .examples([
                "2017-07-07",
                "2017-07-07T09:00:00Z",
                "24h",
                "1499418000000000",
            ])
            .into(),
        Kind::Integer(lo, hi) => ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::Int64,
            )))
            .minimum((lo != i64::MIN).then_some(lo))
            .maximum((hi != i64::MAX).then_some(hi))
            .into(),
        Kind::Number(lo, hi) => ObjectBuilder::new()
            .schema_type(Type::Number)
            .minimum(Some(lo))
            .maximum(Some(hi))
            .into(),
        Kind::Address => address().into(),
        Kind::Network => address()
            .item(
                string()
                    .pattern(Some(r"^[0-9A-Fa-f:.]+/[0-9]{1,3}$"))
                    .description(Some("a network in CIDR notation")),
            )
            .into(),
        Kind::OneOf(words) => string().enum_values(Some(words.iter().copied())).into(),
    }
}

/// The query parameters of a table, documented.
pub fn parameters(list: &[Param]) -> Vec<Parameter> {
    list.iter()
        .map(|p| {
            Parameter::builder()
                .name(p.name)
                .parameter_in(ParameterIn::Query)
                .required(Required::False)
                .description(Some(p.doc))
                .schema(Some(kind_schema(p.kind)))
                .build()
        })
        .collect()
}

/// Declares a type whose [`utoipa::IntoParams`] documents the parameter tables given: what a
/// handler's `params(...)` names, from the tables its handler reads with.
macro_rules! query_params {
    ($(#[$doc:meta])* $name:ident = [$($table:expr),+ $(,)?]) => {
        $(#[$doc])*
        pub struct $name;

        impl utoipa::IntoParams for $name {
            fn into_params(
                _: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
            ) -> Vec<utoipa::openapi::path::Parameter> {
                let mut all = Vec::new();
                $(all.extend($crate::openapi::parameters(&$table));)+
                all
            }
        }
    };
}
pub(crate) use query_params;

/// A time as flows write it (`2017-07-07 09:00:00.000000`, UTC).
const TIME_PATTERN: &str = r"^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}$";

/// The schema of a flow's object as [`crate::routes::flows::flow_json`] writes it: `id`,
/// `capture`, every column of `cols` by its canonical name, then its score.
fn flow_object(cols: &[Column]) -> ObjectBuilder {
    let nullable = |t: Type| SchemaType::from_iter([t, Type::Null]);
    let mut o = ObjectBuilder::new()
        .property(
            "id",
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .description(Some("Row id")),
        )
        .required("id")
        .property(
            "capture",
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .description(Some("The capture it was metered from")),
        )
        .required("capture");
    for c in cols {
        let (t, format) = match c.ty() {
            ColumnType::Text => (Type::String, None),
            ColumnType::Int => (Type::Integer, None),
            ColumnType::Float => (Type::Number, None),
            // `packet::Timestamp`'s text: UTC to the microsecond, a space before the time.
            ColumnType::Time => (Type::String, Some(TIME_PATTERN)),
        };
        o = o
            .property(
                c.name(),
                ObjectBuilder::new()
                    .schema_type(nullable(t))
                    .pattern(format),
            )
            .required(c.name());
    }
    for (name, t) in
        store::export::LABEL_COLUMNS
            .iter()
            .zip([Type::String, Type::Number, Type::Number])
    {
        o = o
            .property(*name, ObjectBuilder::new().schema_type(nullable(t)))
            .required(*name);
    }
    o
}

/// A flow of the listing (`GET /api/flows`): the columns of
/// [`crate::routes::flows::listed_columns`].
pub struct ListedFlow;

impl PartialSchema for ListedFlow {
    fn schema() -> RefOr<Schema> {
        flow_object(&crate::routes::flows::listed_columns())
            .description(Some(
                "A flow: id, capture, the flow table's columns but most features, and its score",
            ))
            .into()
    }
}

impl ToSchema for ListedFlow {}

/// A flow with every column and the alert episodes about it (`GET /api/flows/{id}`).
pub struct FlowDetail;

impl PartialSchema for FlowDetail {
    fn schema() -> RefOr<Schema> {
        let cols: Vec<Column> = flow::columns::all().collect();
        flow_object(&cols)
            .description(Some(
                "A flow with every column of the flow table and `episodes`, the alert episodes \
                 about it",
            ))
            .property(
                "episodes",
                ArrayBuilder::new().items(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                    store::StoredAlert::name(),
                ))),
            )
            .required("episodes")
            .into()
    }
}

// The episodes' schema is referenced, so it must be in the document's components.
impl ToSchema for FlowDetail {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((
            store::StoredAlert::name().into_owned(),
            store::StoredAlert::schema(),
        ));
        <store::StoredAlert as ToSchema>::schemas(schemas);
    }
}

/// The schema of a failure's body: the body `crate::error` writes.
pub type ErrorBody = crate::error::Body<'static>;

/// `GET /api/openapi.json`: this document. Open without credentials, like `/api/health`.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API", content_type = "application/json", body = serde_json::Value))
)]
pub async fn document(
    axum::Extension(doc): axum::Extension<std::sync::Arc<Document>>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        doc.0.clone(),
    )
        .into_response()
}

/// The document as served: written once, when the routes are made.
pub struct Document(pub String);

/// The routes open to everyone (no credentials).
const OPEN: [&str; 2] = ["/api/health", "/api/openapi.json"];

/// Completes the document the routes made: its description, the two ways to authenticate,
/// the answers every authenticated call may give (400, 401, 429, 503), and `limit`'s maximum
/// (the server's `max_page`).
pub fn finish(mut doc: OpenApi, max_page: usize) -> OpenApi {
    doc.info = utoipa::openapi::InfoBuilder::new()
        .title("netvigil API")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(
            "Flows, traffic windows and statistics, devices, alert episodes and incidents, \
             their workflow, users and notifications. docs/server.md describes every call. \
             Times are UTC microseconds since the epoch unless a field says otherwise.",
        ))
        .build();
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "token",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some("An API token (`netvigil user token NAME`)"))
                .build(),
        ),
    );
    components.add_security_scheme(
        "session",
        SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
            SESSION_COOKIE.to_string(),
            format!(
                "The cookie `POST /api/session` sets; every call but a read also carries the \
                 session's CSRF token in `{CSRF_HEADER}`"
            ),
        ))),
    );
    components
        .schemas
        .insert(ErrorBody::name().into_owned(), ErrorBody::schema());
    let error = |what: &str| {
        ResponseBuilder::new()
            .description(what)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                        ErrorBody::name(),
                    ))))
                    .build(),
            )
            .build()
    };
    let limit = kind_schema(Kind::Integer(
        1,
        i64::try_from(max_page).unwrap_or(i64::MAX),
    ));
    let authenticated = [
        SecurityRequirement::new("token", Vec::<String>::new()),
        SecurityRequirement::new("session", Vec::<String>::new()),
    ];
    for (path, item) in doc.paths.paths.iter_mut() {
        let open = OPEN.contains(&path.as_str());
        for op in [
            &mut item.get,
            &mut item.post,
            &mut item.patch,
            &mut item.delete,
        ]
        .into_iter()
        .flatten()
        {
            let r = &mut op.responses.responses;
            r.entry("400".into()).or_insert_with(|| {
                error("A parameter or field is wrong (`field` names it)").into()
            });
            r.entry("429".into()).or_insert_with(|| {
                error("Past the route's rate limit (`Retry-After` says when to retry)").into()
            });
            r.entry("503".into()).or_insert_with(|| {
                error("The store cannot be reached, or the server is too busy").into()
            });
            if !open {
                r.entry("401".into())
                    .or_insert_with(|| error("No valid credentials").into());
                op.security = Some(authenticated.to_vec());
            }
            for p in op.parameters.iter_mut().flatten() {
                let RefOr::T(p) = p else { continue };
                if p.name == LIMIT.name && p.parameter_in == ParameterIn::Query {
                    p.schema = Some(limit.clone().into());
                }
            }
        }
    }
    doc
}
