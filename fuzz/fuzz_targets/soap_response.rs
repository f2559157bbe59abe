//! The vim25 SOAP response parser: `soap::xml::parse` (the element tree),
//! what is read off its nodes, `Node::portable_inner_xml` (values sent back
//! to the server), and `Response::parse` with fault decoding and serde
//! decoding of `returnval`s. Asserts only that nothing panics or hangs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vsphere_client::property::property_changes;
use vsphere_client::soap::{xml, Node, Response};
use vsphere_client::ManagedObjectReference;

/// Reads everything a caller may read off a node, recursively.
fn visit(node: &Node, source: &str, depth: usize) {
    let _ = node.attr("type");
    let _ = node.xsi_type();
    let _ = node.child_text("name");
    let _ = node.raw(source);
    let _ = node.inner_xml(source);
    let _ = node.value_xml(source);
    let _ = node.decode::<ManagedObjectReference>(source);
    // The recursion is bounded by the parser's own nesting; cap it anyway
    // so that a deep input measures the parser, not this walk.
    if depth < 64 {
        for child in &node.children {
            visit(child, source, depth + 1);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(source) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(root) = xml::parse(source) {
        let _ = root.portable_inner_xml();
        let _ = root.portable_xml();
        visit(&root, source, 0);
    }
    match Response::parse("RetrievePropertiesEx", source.to_string()) {
        Ok(response) => {
            let _ = response.decode_returnvals::<ManagedObjectReference>();
            let _ = response.decode_returnval::<String>();
            if let Some(returnval) = response.returnval() {
                let _ = returnval.portable_inner_xml();
                for change in property_changes(returnval) {
                    let _ = change.child_text("op");
                }
            }
        }
        Err(error) => {
            let _ = error.to_string();
            if let Some(fault) = error.fault() {
                let _ = fault.type_name();
            }
        }
    }
});
