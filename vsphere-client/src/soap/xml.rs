//! A small element tree over a response, keeping each element's byte span so
//! that typed values (which vim25 marks with `xsi:type`) can be handed to
//! serde one element at a time.

use quick_xml::events::Event;
use quick_xml::Reader;
use serde::de::DeserializeOwned;

/// One element: local name, attributes (qualified names as written), direct
/// text, children, and its span in the source.
#[derive(Clone, Debug)]
pub struct Node {
    /// Local name (prefix stripped).
    pub name: String,
    attrs: Vec<(String, String)>,
    /// The element's direct text, unescaped.
    pub text: String,
    /// Child elements in document order.
    pub children: Vec<Node>,
    start: usize,
    end: usize,
    /// Span of the content between the tags (empty for `<x/>`).
    content: (usize, usize),
}

impl Node {
    /// The first child with this local name.
    pub fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }

    /// All children with this local name.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The text of the first child with this local name.
    pub fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.as_str())
    }

    /// An attribute by local name (`xsi:type` is found as `type` only when no
    /// unprefixed `type` exists; use [`Node::xsi_type`] for that).
    pub fn attr(&self, local: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == local)
            .or_else(|| self.attrs.iter().find(|(k, _)| local_name(k) == local))
            .map(|(_, v)| v.as_str())
    }

    /// The `xsi:type` attribute without any namespace prefix on its value.
    pub fn xsi_type(&self) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k.contains(':') && local_name(k) == "type")
            .map(|(_, v)| local_name(v))
    }

    /// The element's source text, tags included.
    pub fn raw<'a>(&self, source: &'a str) -> &'a str {
        source.get(self.start..self.end).unwrap_or_default()
    }

    /// The source between the element's tags (empty for `<x/>`).
    pub fn inner_xml<'a>(&self, source: &'a str) -> &'a str {
        source
            .get(self.content.0..self.content.1)
            .unwrap_or_default()
    }

    /// The element's content written again so that it can be sent back
    /// (see [`super::Parameters::raw_element`]): every namespaced `type`
    /// attribute becomes `xsi:type`, the prefix our envelope declares.
    /// A verbatim slice is not enough: govmomi's encoder (the simulator)
    /// declares the XSI namespace once, as `XMLSchema-instance:`, on an
    /// ancestor the slice leaves out, and a server reading the value back
    /// then drops every typed element in it.
    ///
    /// ```
    /// let doc = r#"<r xmlns:XMLSchema-instance="http://www.w3.org/2001/XMLSchema-instance"><spec><device XMLSchema-instance:type="VirtualDisk"><key>1</key><label>a&amp;b</label></device></spec></r>"#;
    /// let root = vsphere_client::soap::xml::parse(doc).unwrap();
    /// let spec = root.child("spec").unwrap();
    /// assert_eq!(
    ///     spec.portable_inner_xml(),
    ///     r#"<device xsi:type="VirtualDisk"><key>1</key><label>a&amp;b</label></device>"#
    /// );
    /// ```
    pub fn portable_inner_xml(&self) -> String {
        let mut out = String::new();
        self.write_content(&mut out);
        out
    }

    /// The element itself, written as [`Node::portable_inner_xml`] writes
    /// content.
    ///
    /// ```
    /// let root = vsphere_client::soap::xml::parse(r#"<key a="1">7</key>"#).unwrap();
    /// assert_eq!(root.portable_xml(), r#"<key a="1">7</key>"#);
    /// ```
    pub fn portable_xml(&self) -> String {
        let mut out = String::new();
        self.write_portable(&mut out);
        out
    }

    fn write_content(&self, out: &mut String) {
        if self.children.is_empty() {
            out.push_str(&quick_xml::escape::escape(self.text.as_str()));
        }
        for child in &self.children {
            child.write_portable(out);
        }
    }

    fn write_portable(&self, out: &mut String) {
        out.push('<');
        out.push_str(&self.name);
        for (key, value) in &self.attrs {
            let name = match key.split_once(':') {
                Some(("xmlns", _)) => continue,
                Some((_, "type")) => "xsi:type",
                Some(_) => continue,
                None if key == "xmlns" => continue,
                None => key.as_str(),
            };
            out.push_str(&format!(
                " {name}=\"{}\"",
                quick_xml::escape::escape(value.as_str())
            ));
        }
        out.push('>');
        self.write_content(out);
        out.push_str("</");
        out.push_str(&self.name);
        out.push('>');
    }

    /// The element's source with namespaced attributes (`xsi:type`,
    /// `xmlns:*`) dropped from its own tag: serde matches attributes by
    /// local name, and a `ManagedObjectReference` value carries both
    /// `xsi:type` and `type`.
    pub fn value_xml(&self, source: &str) -> String {
        if !self
            .attrs
            .iter()
            .any(|(k, _)| k.contains(':') || k == "xmlns")
        {
            return self.raw(source).to_string();
        }
        let mut out = format!("<{}", self.name);
        for (k, v) in self
            .attrs
            .iter()
            .filter(|(k, _)| !k.contains(':') && k != "xmlns")
        {
            out.push_str(&format!(
                " {k}=\"{}\"",
                quick_xml::escape::escape(v.as_str())
            ));
        }
        out.push('>');
        out.push_str(
            source
                .get(self.content.0..self.content.1)
                .unwrap_or_default(),
        );
        out.push_str(&format!("</{}>", self.name));
        out
    }

    /// Deserializes this element with serde.
    pub fn decode<T: DeserializeOwned>(&self, source: &str) -> Result<T, String> {
        quick_xml::de::from_str(&self.value_xml(source))
            .map_err(|e| format!("<{}>: {e}", self.name))
    }
}

fn element(e: &quick_xml::events::BytesStart<'_>, start: usize, end: usize) -> Node {
    let attrs = e
        .attributes()
        .with_checks(false)
        .flatten()
        .map(|a| {
            let key = String::from_utf8_lossy(a.key.as_ref()).into_owned();
            let value = a
                .unescape_value()
                .map(|v| v.into_owned())
                .unwrap_or_else(|_| String::from_utf8_lossy(&a.value).into_owned());
            (key, value)
        })
        .collect();
    Node {
        name: String::from_utf8_lossy(e.local_name().as_ref()).into_owned(),
        attrs,
        text: String::new(),
        children: Vec::new(),
        start,
        end,
        content: (end, end),
    }
}

fn local_name(qname: &str) -> &str {
    qname.rsplit(':').next().unwrap_or(qname)
}

/// Parses a document into its root element.
pub fn parse(source: &str) -> Result<Node, String> {
    let mut reader = Reader::from_str(source);
    let mut stack: Vec<Node> = Vec::new();
    loop {
        let before = reader.buffer_position() as usize;
        let event = reader
            .read_event()
            .map_err(|e| format!("XML error at byte {}: {e}", reader.buffer_position()))?;
        let after = reader.buffer_position() as usize;
        match event {
            Event::Start(e) => stack.push(element(&e, before, after)),
            Event::Empty(e) => {
                let node = element(&e, before, after);
                match stack.last_mut() {
                    Some(parent) => parent.children.push(node),
                    None => return Ok(node),
                }
            }
            Event::End(_) => {
                let mut node = stack.pop().ok_or("unbalanced end tag")?;
                node.content = (node.content.0, before);
                node.end = after;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(node),
                    None => return Ok(node),
                }
            }
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    let text = t.decode().map_err(|e| e.to_string())?;
                    top.text
                        .push_str(&quick_xml::escape::unescape(&text).map_err(|e| e.to_string())?);
                }
            }
            Event::GeneralRef(r) => {
                if let Some(top) = stack.last_mut() {
                    let name = r.decode().map_err(|e| e.to_string())?;
                    let entity = format!("&{name};");
                    top.text.push_str(
                        &quick_xml::escape::unescape(&entity).map_err(|e| e.to_string())?,
                    );
                }
            }
            Event::CData(c) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&String::from_utf8_lossy(&c));
                }
            }
            Event::Eof => return Err("document ended before its root element closed".into()),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_text_and_attributes() {
        let src = r#"<?xml version="1.0"?><a xmlns:xsi="x"><b xsi:type="xsd:string">x &amp; y</b><c type="Folder">group-d1</c><d/></a>"#;
        let root = parse(src).unwrap();
        assert_eq!(root.name, "a");
        let b = root.child("b").unwrap();
        assert_eq!(b.text, "x & y");
        assert_eq!(b.xsi_type(), Some("string"));
        assert_eq!(b.raw(src), r#"<b xsi:type="xsd:string">x &amp; y</b>"#);
        let c = root.child("c").unwrap();
        assert_eq!(c.attr("type"), Some("Folder"));
        assert_eq!(c.xsi_type(), None);
        assert_eq!(root.child("d").unwrap().raw(src), "<d/>");
    }

    #[test]
    fn values_lose_namespaced_attributes() {
        let src = r#"<a><val xmlns:XMLSchema-instance="x" XMLSchema-instance:type="ManagedObjectReference" type="Folder">group-&lt;1</val><e xsi:type="T"/></a>"#;
        let root = parse(src).unwrap();
        let val = root.child("val").unwrap();
        assert_eq!(
            val.value_xml(src),
            r#"<val type="Folder">group-&lt;1</val>"#
        );
        let r: crate::types::ManagedObjectReference = val.decode(src).unwrap();
        assert_eq!(r.to_string(), "Folder:group-<1");
        assert_eq!(root.child("e").unwrap().value_xml(src), "<e></e>");
    }

    #[test]
    fn prefixes_are_stripped_from_names() {
        let src = r#"<soapenv:Envelope xmlns:soapenv="s"><soapenv:Body><R/></soapenv:Body></soapenv:Envelope>"#;
        let root = parse(src).unwrap();
        assert_eq!(root.name, "Envelope");
        assert_eq!(root.children[0].name, "Body");
    }

    #[test]
    fn malformed_input_is_an_error() {
        assert!(parse("<a><b></a>").is_err());
        assert!(parse("<a>").is_err());
        assert!(parse("").is_err());
    }
}
