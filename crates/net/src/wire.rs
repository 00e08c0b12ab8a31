//! Wire frames, whatever protocol they carry. One bidirectional QUIC stream per request: a
//! request frame, then (optionally) raw body bytes; the answer is a response frame, then raw
//! body bytes. The messages themselves are the protocol's (the shard protocol's are in
//! `kintsugi_storage::proto`). Byte layout of a frame:
//!
//! ```text
//! offset  size  field
//! 0       4     frame length n, u32 little-endian (1 ..= MAX_FRAME)
//! 4       1     wire format version (1)
//! 5       n-1   postcard encoding of the message
//! ```
//! Body lengths travel inside the message, so a reader always knows how
//! many raw bytes follow and a truncated body is detected.

use serde::{de::DeserializeOwned, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::error::{NetError, NetResult};

/// Largest frame accepted (a frame carries headers, never bulk data).
pub const MAX_FRAME: usize = 64 * 1024;
/// Current wire format version.
pub const WIRE_V1: u8 = 1;

/// Encode a message as one frame.
pub fn encode_frame<T: Serialize>(msg: &T) -> NetResult<Vec<u8>> {
    let mut body = vec![WIRE_V1];
    body = postcard::to_extend(msg, body).map_err(|e| NetError::BadFrame { detail: format!("encoding: {e}") })?;
    if body.len() > MAX_FRAME {
        return Err(NetError::BadFrame { detail: format!("frame of {} bytes exceeds {MAX_FRAME}", body.len()) });
    }
    let len = u32::try_from(body.len()).map_err(|_| NetError::BadFrame { detail: "frame too large".into() })?;
    let mut out = Vec::with_capacity(4 + body.len());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

/// Check a frame's length prefix; returns the number of bytes that follow.
pub fn frame_len(prefix: [u8; 4]) -> NetResult<usize> {
    let n = u32::from_le_bytes(prefix) as usize;
    if n == 0 || n > MAX_FRAME {
        return Err(NetError::BadFrame { detail: format!("frame length {n} outside 1..={MAX_FRAME}") });
    }
    Ok(n)
}

/// Decode the bytes after the length prefix.
pub fn decode_frame<T: DeserializeOwned>(body: &[u8]) -> NetResult<T> {
    match body.split_first() {
        Some((&WIRE_V1, rest)) => {
            let (msg, extra) = postcard::take_from_bytes(rest).map_err(|e| NetError::BadFrame { detail: format!("decoding: {e}") })?;
            if !extra.is_empty() {
                return Err(NetError::BadFrame { detail: format!("{} trailing bytes after the message", extra.len()) });
            }
            Ok(msg)
        }
        Some((v, _)) => Err(NetError::BadFrame { detail: format!("unknown wire version {v}; upgrade this node") }),
        None => Err(NetError::BadFrame { detail: "empty frame".into() }),
    }
}

/// Read one frame from a QUIC stream (or any byte stream: the fuzz targets read slices). A
/// stream that fails or ends inside the frame is `Connection` (the transport's fault: worth a
/// retry); bytes that are not a frame are `BadFrame`.
pub async fn read_frame<T: DeserializeOwned>(recv: &mut (impl AsyncRead + Unpin)) -> NetResult<T> {
    let cut = |what: &str, e: &std::io::Error| NetError::Connection { detail: format!("{what}: {}", with_causes(e)) };
    let mut prefix = [0u8; 4];
    recv.read_exact(&mut prefix).await.map_err(|e| cut("reading frame length", &e))?;
    let n = frame_len(prefix)?;
    // Grown as bytes arrive: a peer that announces a frame and sends nothing costs nothing.
    let mut body = Vec::with_capacity(n.min(4096));
    let got = (&mut *recv).take(n as u64).read_to_end(&mut body).await.map_err(|e| cut("frame truncated", &e))?;
    if got < n {
        return Err(NetError::Connection { detail: format!("frame truncated: the stream ended after {got} of {n} bytes") });
    }
    decode_frame(&body)
}

/// Write one frame to a QUIC stream.
pub async fn write_frame<T: Serialize>(send: &mut quinn::SendStream, msg: &T) -> NetResult<()> {
    let f = encode_frame(msg)?;
    send.write_all(&f).await.map_err(|e| NetError::Connection { detail: format!("writing frame: {}", with_causes(&e)) })
}

/// An error with its causes ("connection lost: closed by peer: … (code 0)"): a closed
/// connection's reason is in the cause, not in quinn's top-level message.
pub(crate) fn with_causes(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::JoinRequest;

    #[test]
    fn frames_round_trip_and_bad_frames_are_errors() {
        let req = JoinRequest { secret: "s".into(), node_name: "n1".into(), csr_der: vec![1, 2, 3] };
        let f = encode_frame(&req).expect("encode");
        let n = frame_len([f[0], f[1], f[2], f[3]]).expect("len");
        assert_eq!(n, f.len() - 4);
        assert_eq!(decode_frame::<JoinRequest>(&f[4..]).expect("decode"), req);
        // Truncated at every length: never a wrong message, never a panic.
        for cut in 0..f.len() - 4 {
            assert!(decode_frame::<JoinRequest>(&f[4..4 + cut]).is_err(), "cut {cut}");
        }
        let mut bad = f[4..].to_vec();
        bad[0] = 9;
        assert!(matches!(decode_frame::<JoinRequest>(&bad), Err(NetError::BadFrame { .. })));
        let mut extra = f[4..].to_vec();
        extra.push(0);
        assert!(decode_frame::<JoinRequest>(&extra).is_err());
        assert!(frame_len([0, 0, 0, 0]).is_err());
        assert!(frame_len(u32::try_from(MAX_FRAME + 1).expect("n").to_le_bytes()).is_err());
        let huge = JoinRequest { secret: String::new(), node_name: String::new(), csr_der: vec![0; MAX_FRAME] };
        assert!(encode_frame(&huge).is_err());
    }
}
