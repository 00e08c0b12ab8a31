//! A small XML tree for S3 responses (quick-xml events → nodes), and the
//! response shapes the client reads from it.

use quick_xml::events::Event;
use quick_xml::Reader;

use crate::error::{ClientError, ClientResult};

/// One element: local name, text content, children.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Node {
    /// Local name (namespace prefix dropped).
    pub name: String,
    /// Concatenated text directly inside the element.
    pub text: String,
    /// Child elements in order.
    pub children: Vec<Node>,
}

impl Node {
    /// First child named `name`.
    pub fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }

    /// All children named `name`.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// Text of the first child named `name`.
    pub fn text_of(&self, name: &str) -> Option<String> {
        self.child(name).map(|c| c.text.clone())
    }
}

fn named_entity(name: &str) -> Option<char> {
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        _ => return None,
    })
}

/// Deepest nesting a document may have (S3's answers nest a few levels): a deeper one is
/// refused, so a hostile endpoint cannot make the tree's recursive drop overflow the stack.
pub const MAX_DEPTH: usize = 64;

/// Parse a document into its root element.
pub fn parse(what: &'static str, body: &[u8]) -> ClientResult<Node> {
    let bad = |detail: String| ClientError::Protocol { what, detail };
    let text = std::str::from_utf8(body).map_err(|e| bad(format!("XML is not UTF-8: {e}")))?;
    let mut reader = Reader::from_str(text);
    let mut stack: Vec<Node> = vec![Node::default()];
    loop {
        let ev = reader.read_event().map_err(|e| bad(format!("bad XML: {e}")))?;
        match ev {
            Event::Start(s) => {
                if stack.len() > MAX_DEPTH {
                    return Err(bad(format!("XML nested deeper than {MAX_DEPTH} elements")));
                }
                let name = String::from_utf8_lossy(s.local_name().as_ref()).into_owned();
                stack.push(Node { name, ..Node::default() });
            }
            Event::Empty(s) => {
                let name = String::from_utf8_lossy(s.local_name().as_ref()).into_owned();
                if let Some(top) = stack.last_mut() {
                    top.children.push(Node { name, ..Node::default() });
                }
            }
            Event::End(_) => {
                let done = stack.pop().ok_or_else(|| bad("unbalanced XML".into()))?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => return Err(bad("unbalanced XML".into())),
                }
            }
            Event::Text(t) => {
                let s = t.decode().map_err(|e| bad(format!("bad text: {e}")))?;
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&s);
                }
            }
            Event::CData(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&String::from_utf8_lossy(&t));
                }
            }
            Event::GeneralRef(r) => {
                let ch = match r.resolve_char_ref().map_err(|e| bad(format!("bad character reference: {e}")))? {
                    Some(c) => c,
                    None => {
                        let name = r.decode().map_err(|e| bad(format!("bad entity: {e}")))?;
                        named_entity(&name).ok_or_else(|| bad(format!("unknown entity &{name};")))?
                    }
                };
                if let Some(top) = stack.last_mut() {
                    top.text.push(ch);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    let mut doc = stack.pop().ok_or_else(|| bad("empty document".into()))?;
    if !stack.is_empty() {
        return Err(bad("unclosed elements".into()));
    }
    doc.children.pop().ok_or_else(|| bad("no root element".into()))
}

/// Escape text for an XML body.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_list_with_entities_and_spaces() {
        let x = br#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name>
<Contents><Key> a&amp;b &#x41;</Key><Size>5</Size></Contents><Contents><Key>c</Key><Size>0</Size></Contents>
<IsTruncated>false</IsTruncated><Empty/></ListBucketResult>"#;
        let n = parse("test", x).expect("parse");
        assert_eq!(n.name, "ListBucketResult");
        let keys: Vec<String> = n.all("Contents").filter_map(|c| c.text_of("Key")).collect();
        assert_eq!(keys, vec![" a&b A".to_string(), "c".into()]);
        assert_eq!(n.text_of("IsTruncated").as_deref(), Some("false"));
        assert!(n.child("Empty").is_some());
        assert!(parse("test", b"<a><b></a>").is_err());
        assert!(parse("test", b"").is_err());
        assert_eq!(escape("<a&'\">"), "&lt;a&amp;&apos;&quot;&gt;");
    }

    #[test]
    fn a_document_nested_too_deep_is_refused_not_a_stack_overflow() {
        // Found by thinking about the fuzz target: the tree was built, then dropped
        // recursively, 200,000 levels deep.
        let n = 200_000;
        let doc = format!("{}{}", "<a>".repeat(n), "</a>".repeat(n));
        let e = parse("test", doc.as_bytes()).expect_err("too deep");
        assert!(e.to_string().contains("deeper than"), "{e}");
        let ok = format!("{}{}", "<a>".repeat(MAX_DEPTH), "</a>".repeat(MAX_DEPTH));
        assert!(parse("test", ok.as_bytes()).is_ok(), "{MAX_DEPTH} levels are fine");
    }
}
