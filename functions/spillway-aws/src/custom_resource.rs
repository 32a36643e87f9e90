//! A custom resource's answer to CloudFormation: the response document PUT to the presigned
//! S3 URL the request carries ("Custom resource response objects", CloudFormation User Guide).
//! The URL was signed without a content type, so none is sent (an empty `Content-Type`, as
//! AWS's own `cfn-response` module does).

use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// PUTs `document` to `url`; an error names what failed (the caller logs it: CloudFormation then
/// waits for its timeout, so the function must try hard to answer).
pub async fn respond(url: &str, document: &serde_json::Value) -> Result<(), String> {
    let body = serde_json::to_vec(document).map_err(|e| format!("response document: {e}"))?;
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(rustls::crypto::ring::default_provider())
        .map_err(|e| format!("TLS root certificates: {e}"))?
        // https on AWS; the local emulator's URL is plain http on 127.0.0.1.
        .https_or_http()
        .enable_http1()
        .build();
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build(https);
    let mut last = String::new();
    for attempt in 0..3u64 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(500 * attempt)).await;
        }
        let request = hyper::Request::put(url)
            .header("content-type", "")
            .header("content-length", body.len())
            .body(Full::new(Bytes::from(body.clone())))
            .map_err(|e| format!("response request: {e}"))?;
        match tokio::time::timeout(Duration::from_secs(10), client.request(request)).await {
            Ok(Ok(r)) if r.status().is_success() => return Ok(()),
            Ok(Ok(r)) => last = format!("the response URL answered HTTP {}", r.status()),
            Ok(Err(e)) => last = format!("the response URL could not be reached: {e}"),
            Err(_) => last = "the response URL did not answer within 10 s".into(),
        }
    }
    Err(last)
}
