//! Kintsugi's S3 client library: path-style S3 over HTTP/1.1 with SigV4
//! signing, used by the `kintsugi` CLI commands and `kintsugi bench`. It speaks
//! plain S3, so it works against any S3 server.
//!
//! ```no_run
//! # async fn demo() -> Result<(), kintsugi_client::ClientError> {
//! use kintsugi_client::{Body, Credentials, PutOptions, S3Client};
//! let creds = Credentials { access_key: "AK".into(), secret_key: "SK".into() };
//! let s3 = S3Client::new("http://127.0.0.1:9000", Some(creds), "us-east-1")?;
//! s3.create_bucket("photos").await?;
//! s3.put_object("photos", "a.txt", Body::Bytes("hi".into()), &PutOptions::default()).await?;
//! let bytes = s3.get_object("photos", "a.txt", None).await?.bytes().await?;
//! assert_eq!(&bytes[..], b"hi");
//! # Ok(()) }
//! ```
#![deny(unsafe_code)]

mod client;
mod error;
pub mod sigv4;
pub mod xml;

pub use client::{Body, BucketInfo, Credentials, GetObject, ListPage, ListedObject, ObjectInfo, PutOptions, S3Client};
pub use error::{ClientError, ClientResult};
