//! The console's script and styles, compiled into the binary (the console works
//! air-gapped). Pages link them as `/ui/assets/<name>?v=<digest>`, so a browser may keep
//! them for a year: a new build changes the digest and thus the URL.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const ASSETS: &[Asset] = &[
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../assets/ui/app.js"),
    },
    Asset {
        name: "app.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../../assets/ui/app.css"),
    },
];

/// The digest of every asset together: the `v` of their URLs and their `ETag`.
pub static VERSION: LazyLock<String> = LazyLock::new(|| {
    let mut digest = Sha256::new();
    for asset in ASSETS {
        digest.update(asset.name.as_bytes());
        digest.update(asset.body.as_bytes());
    }
    hex::encode(&digest.finalize()[..8])
});

pub async fn serve(Path(name): Path<String>, request_headers: HeaderMap) -> Response {
    let Some(asset) = ASSETS.iter().find(|a| a.name == name) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let etag = format!("\"{}\"", *VERSION);
    let cache = (
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    if request_headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes())
    {
        return (StatusCode::NOT_MODIFIED, [cache]).into_response();
    }
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            ),
            cache,
            (
                header::ETAG,
                HeaderValue::from_str(&etag).expect("hex is a valid header value"),
            ),
        ],
        asset.body,
    )
        .into_response()
}
