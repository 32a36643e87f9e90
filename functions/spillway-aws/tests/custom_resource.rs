//! The custom resource's answer as CloudFormation's presigned URL receives it: one PUT, no
//! content type, the document as the body. A server on 127.0.0.1 stands in for S3.
#![cfg(feature = "custom-resource")]

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Accepts one request, answers `status`, returns the request as received.
async fn serve_once(listener: TcpListener, status: &'static str) -> String {
    let (mut socket, _) = listener.accept().await.unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = socket.read(&mut buf).await.unwrap();
        raw.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&raw).to_string();
        if let Some(head_end) = text.find("\r\n\r\n") {
            let length: usize = text[..head_end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            if raw.len() >= head_end + 4 + length {
                break;
            }
        }
        if n == 0 {
            break;
        }
    }
    let reply = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    socket.write_all(reply.as_bytes()).await.unwrap();
    String::from_utf8(raw).unwrap()
}

#[tokio::test]
async fn the_answer_is_one_put_without_a_content_type() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/bucket/key?X-Amz-Signature=abc",
        listener.local_addr().unwrap()
    );
    let server = tokio::spawn(serve_once(listener, "200 OK"));
    let document =
        serde_json::json!({"Status": "SUCCESS", "PhysicalResourceId": "spillway-check-orders"});
    spillway_aws::custom_resource::respond(&url, &document)
        .await
        .unwrap();
    let request = server.await.unwrap();
    let (head, body) = request.split_once("\r\n\r\n").unwrap();
    assert!(
        head.starts_with("PUT /bucket/key?X-Amz-Signature=abc HTTP/1.1"),
        "{head}"
    );
    let content_type = head
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("content-type:"));
    assert_eq!(content_type.map(|l| l[13..].trim()), Some(""), "{head}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(body).unwrap(),
        document
    );
}

#[tokio::test]
async fn a_refused_answer_is_an_error_that_names_the_status() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/x", listener.local_addr().unwrap());
    // Three attempts, each refused.
    let server = tokio::spawn(async move {
        for _ in 0..3 {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 4096];
            let _ = socket.read(&mut buf).await.unwrap();
            socket
                .write_all(
                    b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                )
                .await
                .unwrap();
        }
    });
    let e = spillway_aws::custom_resource::respond(&url, &serde_json::json!({}))
        .await
        .unwrap_err();
    assert!(e.contains("HTTP 403"), "{e}");
    server.await.unwrap();
}
