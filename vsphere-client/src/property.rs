//! PropertyCollector: batched, paged property retrieval and container views.
//!
//! One [`RetrievePropertiesEx`](https://developer.broadcom.com/xapis/vsphere-web-services-api/latest/)
//! call can fetch many properties of many objects of many types; later
//! layers count round trips, so everything here is built to batch.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::session::{with_reconnects, Client, RECONNECT_PAUSES};
use crate::soap::{FaultKind, Node, Response};
use crate::types::{ManagedObjectReference, This};

/// `PropertySpec`: which properties of which type to read.
#[derive(Clone, Debug, Serialize)]
pub struct PropertySpec {
    /// The managed object type, e.g. `Datastore`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Property paths, e.g. `summary.freeSpace`.
    #[serde(rename = "pathSet")]
    pub path_set: Vec<String>,
}

impl PropertySpec {
    /// A spec for the given type and paths.
    ///
    /// ```
    /// use vsphere_client::property::PropertySpec;
    /// let spec = PropertySpec::new("Datastore", &["name", "summary.freeSpace"]);
    /// assert_eq!(spec.path_set.len(), 2);
    /// ```
    pub fn new(kind: &str, paths: &[&str]) -> Self {
        PropertySpec {
            kind: kind.to_string(),
            path_set: paths.iter().map(|p| p.to_string()).collect(),
        }
    }
}

/// `TraversalSpec`: how to walk from one object to others.
#[derive(Clone, Debug, Serialize)]
pub struct TraversalSpec {
    #[serde(rename = "@xsi:type")]
    xsi_type: &'static str,
    /// Name other specs may refer to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The type the traversal starts from.
    #[serde(rename = "type")]
    pub kind: String,
    /// The property holding the references to follow.
    pub path: String,
    /// Whether to leave the starting object itself out.
    pub skip: bool,
    /// Named traversals to continue with from the objects reached.
    #[serde(rename = "selectSet", skip_serializing_if = "Vec::is_empty")]
    pub select_set: Vec<SelectionSpec>,
}

impl TraversalSpec {
    /// Follows `path` of objects of type `kind`.
    ///
    /// ```
    /// use vsphere_client::property::TraversalSpec;
    /// let to_hosts = TraversalSpec::new("ComputeResource", "host");
    /// assert_eq!(to_hosts.path, "host");
    /// ```
    pub fn new(kind: &str, path: &str) -> Self {
        TraversalSpec {
            xsi_type: "TraversalSpec",
            name: None,
            kind: kind.to_string(),
            path: path.to_string(),
            skip: false,
            select_set: Vec::new(),
        }
    }

    /// A named traversal that continues with the named traversals `then`.
    ///
    /// ```
    /// use vsphere_client::property::TraversalSpec;
    /// // Folders into folders, again and again.
    /// let folders = TraversalSpec::named("folders", "Folder", "childEntity", &["folders"]);
    /// assert_eq!(folders.select_set[0].name, "folders");
    /// ```
    pub fn named(name: &str, kind: &str, path: &str, then: &[&str]) -> Self {
        TraversalSpec {
            name: Some(name.to_string()),
            select_set: then.iter().map(|n| SelectionSpec::named(n)).collect(),
            ..TraversalSpec::new(kind, path)
        }
    }
}

/// `SelectionSpec`: a reference, by name, to a [`TraversalSpec`].
#[derive(Clone, Debug, Serialize)]
pub struct SelectionSpec {
    #[serde(rename = "@xsi:type")]
    xsi_type: &'static str,
    /// The traversal's name.
    pub name: String,
}

impl SelectionSpec {
    /// A reference to the traversal called `name`.
    ///
    /// ```
    /// use vsphere_client::property::SelectionSpec;
    /// assert_eq!(SelectionSpec::named("folders").name, "folders");
    /// ```
    pub fn named(name: &str) -> Self {
        SelectionSpec {
            xsi_type: "SelectionSpec",
            name: name.to_string(),
        }
    }
}

/// `ObjectSpec`: where retrieval starts.
#[derive(Clone, Debug, Serialize)]
pub struct ObjectSpec {
    /// The starting object.
    pub obj: ManagedObjectReference,
    /// Whether to leave the starting object itself out.
    pub skip: bool,
    /// Traversals from it.
    #[serde(rename = "selectSet", skip_serializing_if = "Vec::is_empty")]
    pub select_set: Vec<TraversalSpec>,
}

impl ObjectSpec {
    /// Just this object.
    ///
    /// ```
    /// use vsphere_client::property::ObjectSpec;
    /// let spec = ObjectSpec::object(vsphere_client::ManagedObjectReference::new("Datastore", "datastore-1"));
    /// assert!(spec.select_set.is_empty());
    /// ```
    pub fn object(obj: ManagedObjectReference) -> Self {
        ObjectSpec {
            obj,
            skip: false,
            select_set: Vec::new(),
        }
    }

    /// Every object a container view holds (the view itself skipped).
    ///
    /// ```
    /// use vsphere_client::property::ObjectSpec;
    /// let spec = ObjectSpec::view(vsphere_client::ManagedObjectReference::new("ContainerView", "session[1]view"));
    /// assert!(spec.skip);
    /// ```
    pub fn view(view: ManagedObjectReference) -> Self {
        ObjectSpec {
            obj: view,
            skip: true,
            select_set: vec![TraversalSpec::new("ContainerView", "view")],
        }
    }
}

/// `PropertyFilterSpec`: properties × objects.
#[derive(Clone, Debug, Serialize)]
pub struct PropertyFilterSpec {
    /// What to read.
    #[serde(rename = "propSet")]
    pub prop_set: Vec<PropertySpec>,
    /// Where from.
    #[serde(rename = "objectSet")]
    pub object_set: Vec<ObjectSpec>,
}

#[derive(Serialize)]
struct RetrieveOptions {
    #[serde(rename = "maxObjects", skip_serializing_if = "Option::is_none")]
    max_objects: Option<u32>,
}

#[derive(Serialize)]
struct RetrievePropertiesEx<'a> {
    #[serde(rename = "_this")]
    this: &'a ManagedObjectReference,
    #[serde(rename = "specSet")]
    spec_set: &'a [PropertyFilterSpec],
    options: RetrieveOptions,
}

#[derive(Serialize)]
struct ContinueRetrievePropertiesEx<'a> {
    #[serde(rename = "_this")]
    this: &'a ManagedObjectReference,
    token: &'a str,
}

/// A vim25 `ArrayOfX` value (e.g. `ArrayOfManagedObjectReference`).
///
/// ```
/// use vsphere_client::property::ArrayOf;
/// use vsphere_client::ManagedObjectReference;
/// let xml = r#"<val><ManagedObjectReference type="Folder">group-v3</ManagedObjectReference></val>"#;
/// let a: ArrayOf<ManagedObjectReference> = quick_xml::de::from_str(xml).unwrap();
/// assert_eq!(a.items[0].value, "group-v3");
/// ```
#[derive(Clone, Debug, Deserialize)]
pub struct ArrayOf<T> {
    /// The elements, in order.
    #[serde(rename = "$value", default = "Vec::new")]
    pub items: Vec<T>,
}

/// The properties retrieved for one object. Values stay as XML until asked
/// for, then serde reads them as the caller's type.
#[derive(Clone, Debug)]
pub struct ObjectContent {
    /// The object.
    pub obj: ManagedObjectReference,
    props: Vec<(String, String)>,
    /// Paths the server could not read (with the fault type).
    pub missing: Vec<(String, String)>,
}

impl ObjectContent {
    /// A property, which must be present.
    ///
    /// ```no_run
    /// # async fn demo(client: &vsphere_client::Client) -> vsphere_client::Result<()> {
    /// use vsphere_client::property::retrieve_one;
    /// let root = client.service_content().root_folder.clone();
    /// let name: String = retrieve_one(client, &root, &["name"]).await?.get("name")?;
    /// # Ok(()) }
    /// ```
    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.get_opt(path)?.ok_or_else(|| {
            Error::malformed(
                format!("{} property '{path}'", self.obj),
                "the server did not return it",
            )
        })
    }

    /// A property, or `None` when the server returned none (unset, or
    /// missing on this object).
    ///
    /// ```no_run
    /// # async fn demo(client: &vsphere_client::Client) -> vsphere_client::Result<()> {
    /// use vsphere_client::property::retrieve_one;
    /// let vm = vsphere_client::ManagedObjectReference::new("VirtualMachine", "vm-42");
    /// let template: Option<bool> = retrieve_one(client, &vm, &["config.template"]).await?.get_opt("config.template")?;
    /// # Ok(()) }
    /// ```
    pub fn get_opt<T: DeserializeOwned>(&self, path: &str) -> Result<Option<T>> {
        let Some((_, raw)) = self.props.iter().find(|(name, _)| name == path) else {
            return Ok(None);
        };
        quick_xml::de::from_str(raw)
            .map(Some)
            .map_err(|e| Error::malformed(format!("{} property '{path}'", self.obj), e.to_string()))
    }

    /// A list property (`ArrayOfX`), empty when unset.
    ///
    /// ```no_run
    /// # async fn demo(client: &vsphere_client::Client) -> vsphere_client::Result<()> {
    /// use vsphere_client::property::retrieve_one;
    /// use vsphere_client::ManagedObjectReference;
    /// let root = client.service_content().root_folder.clone();
    /// let children: Vec<ManagedObjectReference> = retrieve_one(client, &root, &["childEntity"]).await?.get_list("childEntity")?;
    /// # Ok(()) }
    /// ```
    pub fn get_list<T: DeserializeOwned>(&self, path: &str) -> Result<Vec<T>> {
        Ok(self
            .get_opt::<ArrayOf<T>>(path)?
            .map(|a| a.items)
            .unwrap_or_default())
    }

    /// A property's value as the server wrote it (the `val` element,
    /// its own `xsi:type` dropped), for values passed back unchanged.
    ///
    /// ```no_run
    /// # async fn demo(client: &vsphere_client::Client, vm: vsphere_client::ManagedObjectReference) -> vsphere_client::Result<()> {
    /// use vsphere_client::property::retrieve_one;
    /// let content = retrieve_one(client, &vm, &["config.hardware.device"]).await?;
    /// println!("{}", content.raw("config.hardware.device").unwrap_or_default());
    /// # Ok(()) }
    /// ```
    pub fn raw(&self, path: &str) -> Option<&str> {
        self.props
            .iter()
            .find(|(name, _)| name == path)
            .map(|(_, value)| value.as_str())
    }

    /// The names of the properties returned.
    ///
    /// ```no_run
    /// # async fn demo(client: &vsphere_client::Client) -> vsphere_client::Result<()> {
    /// use vsphere_client::property::retrieve_one;
    /// let root = client.service_content().root_folder.clone();
    /// let content = retrieve_one(client, &root, &["name", "childEntity"]).await?;
    /// for name in content.property_names() {
    ///     println!("{name}");
    /// }
    /// # Ok(()) }
    /// ```
    pub fn property_names(&self) -> impl Iterator<Item = &str> {
        self.props.iter().map(|(n, _)| n.as_str())
    }

    fn from_node(response: &Response, node: &crate::soap::Node) -> Result<ObjectContent> {
        let obj_node = node
            .child("obj")
            .ok_or_else(|| Error::malformed("ObjectContent", "no obj"))?;
        let obj: ManagedObjectReference = response.decode(obj_node)?;
        let source = response.source();
        let props = node
            .children_named("propSet")
            .filter_map(|p| {
                let name = p.child_text("name")?.to_string();
                let val = p.child("val")?.value_xml(source);
                Some((name, val))
            })
            .collect();
        let missing = node
            .children_named("missingSet")
            .map(|m| {
                let path = m.child_text("path").unwrap_or_default().to_string();
                let fault = m
                    .child("fault")
                    .and_then(|f| f.child("fault"))
                    .and_then(|f| f.xsi_type())
                    .unwrap_or("unknown")
                    .to_string();
                (path, fault)
            })
            .collect();
        Ok(ObjectContent {
            obj,
            props,
            missing,
        })
    }
}

fn contents_and_token(response: &Response) -> Result<(Vec<ObjectContent>, Option<String>)> {
    let Some(ret) = response.returnval() else {
        return Ok((Vec::new(), None));
    };
    let objects = ret
        .children_named("objects")
        .map(|n| ObjectContent::from_node(response, n))
        .collect::<Result<Vec<_>>>()?;
    let token = ret.child_text("token").map(str::to_string);
    Ok((objects, token))
}

/// `RetrievePropertiesEx` plus `ContinueRetrievePropertiesEx` until the
/// server has returned everything. One round trip per page; the server picks
/// the page size.
///
/// ```no_run
/// # async fn demo(client: &vsphere_client::Client) -> vsphere_client::Result<()> {
/// use vsphere_client::property::{retrieve, ObjectSpec, PropertyFilterSpec, PropertySpec};
/// let root = client.service_content().root_folder.clone();
/// let spec = PropertyFilterSpec {
///     prop_set: vec![PropertySpec::new("Folder", &["name"])],
///     object_set: vec![ObjectSpec::object(root)],
/// };
/// let found = retrieve(client, &[spec]).await?;
/// # Ok(()) }
/// ```
pub async fn retrieve(client: &Client, specs: &[PropertyFilterSpec]) -> Result<Vec<ObjectContent>> {
    retrieve_paged(client, specs, None).await
}

/// [`retrieve`] asking the server for at most `page_size` objects a page.
///
/// A continuation token is good for one call only: when the connection
/// breaks while a later page is read, the retrieval starts over (up to three
/// times) rather than sending the token again.
///
/// ```no_run
/// # async fn demo(client: &vsphere_client::Client) -> vsphere_client::Result<()> {
/// use vsphere_client::property::{retrieve_paged, ObjectSpec, PropertyFilterSpec, PropertySpec};
/// let root = client.service_content().root_folder.clone();
/// let spec = PropertyFilterSpec {
///     prop_set: vec![PropertySpec::new("Folder", &["name"])],
///     object_set: vec![ObjectSpec::object(root)],
/// };
/// let found = retrieve_paged(client, &[spec], Some(500)).await?;
/// # Ok(()) }
/// ```
pub async fn retrieve_paged(
    client: &Client,
    specs: &[PropertyFilterSpec],
    page_size: Option<u32>,
) -> Result<Vec<ObjectContent>> {
    let continuation_lost =
        |failed: &Retrieval| matches!(failed, Retrieval::Continuation(e) if e.is_connection_lost());
    with_reconnects("RetrievePropertiesEx", continuation_lost, || {
        retrieve_pages(client, specs, page_size)
    })
    .await
    .map_err(|(Retrieval::First(error) | Retrieval::Continuation(error))| error)
}

/// Where a paged retrieval failed.
enum Retrieval {
    /// The first page (already sent again by [`Client::invoke`] when safe).
    First(Error),
    /// A continuation.
    Continuation(Error),
}

impl std::fmt::Display for Retrieval {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Retrieval::First(error) => error.fmt(f),
            Retrieval::Continuation(error) => write!(f, "{error} (between pages)"),
        }
    }
}

async fn retrieve_pages(
    client: &Client,
    specs: &[PropertyFilterSpec],
    page_size: Option<u32>,
) -> Result<Vec<ObjectContent>, Retrieval> {
    let pc = &client.service_content().property_collector;
    let response = client
        .invoke(
            "RetrievePropertiesEx",
            &RetrievePropertiesEx {
                this: pc,
                spec_set: specs,
                options: RetrieveOptions {
                    max_objects: page_size,
                },
            },
        )
        .await
        .map_err(Retrieval::First)?;
    let (mut all, mut token) = contents_and_token(&response).map_err(Retrieval::First)?;
    while let Some(t) = token {
        let response = client
            .invoke(
                "ContinueRetrievePropertiesEx",
                &ContinueRetrievePropertiesEx {
                    this: pc,
                    token: &t,
                },
            )
            .await
            .map_err(Retrieval::Continuation)?;
        let (more, next) = contents_and_token(&response).map_err(Retrieval::Continuation)?;
        all.extend(more);
        token = next;
    }
    Ok(all)
}

/// Reads some properties of one object.
///
/// ```no_run
/// # async fn demo(client: &vsphere_client::Client) -> vsphere_client::Result<()> {
/// use vsphere_client::property::retrieve_one;
/// let root = client.service_content().root_folder.clone();
/// let content = retrieve_one(client, &root, &["name"]).await?;
/// # let _ = content;
/// # Ok(()) }
/// ```
pub async fn retrieve_one(
    client: &Client,
    obj: &ManagedObjectReference,
    paths: &[&str],
) -> Result<ObjectContent> {
    let spec = PropertyFilterSpec {
        prop_set: vec![PropertySpec::new(&obj.kind, paths)],
        object_set: vec![ObjectSpec::object(obj.clone())],
    };
    retrieve(client, &[spec])
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| Error::malformed(format!("properties of {obj}"), "no object returned"))
}

/// Reads the typed properties of many objects of one type in one call.
///
/// ```no_run
/// # async fn demo(client: &vsphere_client::Client) -> vsphere_client::Result<()> {
/// use vsphere_client::mo::VirtualMachine;
/// use vsphere_client::ManagedObjectReference;
/// let refs = [ManagedObjectReference::new("VirtualMachine", "vm-42"), ManagedObjectReference::new("VirtualMachine", "vm-43")];
/// let vms: Vec<VirtualMachine> = vsphere_client::property::retrieve_objects(client, &refs).await?;
/// # Ok(()) }
/// ```
pub async fn retrieve_objects<T: crate::mo::ManagedObject>(
    client: &Client,
    objs: &[ManagedObjectReference],
) -> Result<Vec<T>> {
    if objs.is_empty() {
        return Ok(Vec::new());
    }
    let spec = PropertyFilterSpec {
        prop_set: vec![PropertySpec::new(T::TYPE, T::PROPERTIES)],
        object_set: objs.iter().cloned().map(ObjectSpec::object).collect(),
    };
    retrieve(client, &[spec])
        .await?
        .iter()
        .map(T::from_content)
        .collect()
}

#[derive(Serialize)]
struct CreateContainerView<'a> {
    #[serde(rename = "_this")]
    this: &'a ManagedObjectReference,
    container: &'a ManagedObjectReference,
    #[serde(rename = "type")]
    types: &'a [String],
    recursive: bool,
}

/// A server-side `ContainerView`: every object of some types below a
/// container. Destroy it when done; views live as long as the session.
#[derive(Debug)]
pub struct ContainerView {
    /// The view object.
    pub view: ManagedObjectReference,
}

impl ContainerView {
    /// `ViewManager.CreateContainerView`.
    ///
    /// ```no_run
    /// # async fn demo(client: &vsphere_client::Client) -> vsphere_client::Result<()> {
    /// use vsphere_client::property::ContainerView;
    /// let root = client.service_content().root_folder.clone();
    /// let view = ContainerView::create(client, &root, &["VirtualMachine".to_string()], true).await?;
    /// // ... retrieve with ObjectSpec::view(view.view.clone()) ...
    /// view.destroy(client).await?;
    /// # Ok(()) }
    /// ```
    pub async fn create(
        client: &Client,
        container: &ManagedObjectReference,
        types: &[String],
        recursive: bool,
    ) -> Result<ContainerView> {
        let vm = client
            .service_content()
            .view_manager
            .as_ref()
            .ok_or_else(|| Error::malformed("ServiceContent", "the server has no ViewManager"))?;
        let response = client
            .invoke(
                "CreateContainerView",
                &CreateContainerView {
                    this: vm,
                    container,
                    types,
                    recursive,
                },
            )
            .await?;
        Ok(ContainerView {
            view: response.decode_returnval()?,
        })
    }

    /// `View.DestroyView`.
    ///
    /// ```no_run
    /// # async fn demo(client: &vsphere_client::Client) -> vsphere_client::Result<()> {
    /// use vsphere_client::property::ContainerView;
    /// let root = client.service_content().root_folder.clone();
    /// let view = ContainerView::create(client, &root, &["Datastore".to_string()], true).await?;
    /// view.destroy(client).await?;
    /// # Ok(()) }
    /// ```
    pub async fn destroy(self, client: &Client) -> Result<()> {
        client
            .invoke("DestroyView", &This { this: &self.view })
            .await?;
        Ok(())
    }
}

/// Several types' properties read from one container view in one
/// `RetrievePropertiesEx`: the batching later layers count on.
///
/// ```no_run
/// # async fn demo(client: &vsphere_client::Client) -> vsphere_client::Result<()> {
/// use vsphere_client::mo::{Datastore, Network, ResourcePool};
/// use vsphere_client::property::InventoryQuery;
/// let root = client.service_content().root_folder.clone();
/// let snapshot = InventoryQuery::new(root)
///     .with::<Datastore>()
///     .with::<Network>()
///     .with::<ResourcePool>()
///     .run(client)
///     .await?;
/// for ds in snapshot.all::<Datastore>()? {
///     println!("{} {} free", ds.name, ds.summary.free_space);
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct InventoryQuery {
    root: ManagedObjectReference,
    specs: Vec<PropertySpec>,
    extra: Vec<ManagedObjectReference>,
}

impl InventoryQuery {
    /// Objects anywhere below `root`.
    ///
    /// ```
    /// use vsphere_client::property::InventoryQuery;
    /// let root = vsphere_client::ManagedObjectReference::new("Folder", "group-d1");
    /// let query = InventoryQuery::new(root).with_paths("Datastore", &["name"]);
    /// # let _ = query;
    /// ```
    pub fn new(root: ManagedObjectReference) -> Self {
        InventoryQuery {
            root,
            specs: Vec::new(),
            extra: Vec::new(),
        }
    }

    /// Adds a typed property set.
    ///
    /// ```
    /// use vsphere_client::property::InventoryQuery;
    /// use vsphere_client::mo::Datastore;
    /// let root = vsphere_client::ManagedObjectReference::new("Folder", "group-d1");
    /// let query = InventoryQuery::new(root).with::<Datastore>();
    /// # let _ = query;
    /// ```
    pub fn with<T: crate::mo::ManagedObject>(self) -> Self {
        self.with_paths(T::TYPE, T::PROPERTIES)
    }

    /// Adds properties of a type by path.
    ///
    /// ```
    /// use vsphere_client::property::InventoryQuery;
    /// let root = vsphere_client::ManagedObjectReference::new("Folder", "group-d1");
    /// let query = InventoryQuery::new(root).with_paths("HostSystem", &["name", "runtime.connectionState"]);
    /// # let _ = query;
    /// ```
    pub fn with_paths(mut self, kind: &str, paths: &[&str]) -> Self {
        self.specs.push(PropertySpec::new(kind, paths));
        self
    }

    /// Creates a container view of the types asked for, reads every
    /// property set (and the extra objects) in one paged retrieval, and
    /// destroys the view: three round trips for any number of types.
    ///
    /// ```no_run
    /// # async fn demo(client: &vsphere_client::Client) -> vsphere_client::Result<()> {
    /// use vsphere_client::property::InventoryQuery;
    /// use vsphere_client::mo::Datastore;
    /// let root = client.service_content().root_folder.clone();
    /// let datastores = InventoryQuery::new(root).with::<Datastore>().run(client).await?.all::<Datastore>()?;
    /// # Ok(()) }
    /// ```
    pub async fn run(&self, client: &Client) -> Result<InventorySnapshot> {
        let extra_kinds: Vec<&str> = self.extra.iter().map(|o| o.kind.as_str()).collect();
        let types: Vec<String> = self
            .specs
            .iter()
            .map(|s| s.kind.clone())
            .filter(|k| !extra_kinds.contains(&k.as_str()))
            .collect();
        let view = ContainerView::create(client, &self.root, &types, true).await?;
        let mut object_set = vec![ObjectSpec::view(view.view.clone())];
        object_set.extend(self.extra.iter().cloned().map(ObjectSpec::object));
        let spec = PropertyFilterSpec {
            prop_set: self.specs.clone(),
            object_set,
        };
        let result = retrieve(client, &[spec]).await;
        let destroyed = view.destroy(client).await;
        let objects = result?;
        destroyed?;
        Ok(InventorySnapshot { objects })
    }

    /// Also reads `paths` of one more object (outside the tree, e.g. the
    /// AuthorizationManager) in the same call.
    ///
    /// ```no_run
    /// # async fn demo(client: &vsphere_client::Client) -> vsphere_client::Result<()> {
    /// use vsphere_client::property::InventoryQuery;
    /// let root = client.service_content().root_folder.clone();
    /// let auth = client.service_content().authorization_manager.clone().expect("vCenter has one");
    /// let snapshot = InventoryQuery::new(root)
    ///     .with_paths("Datastore", &["name"])
    ///     .also(auth, &["roleList"])
    ///     .run(client)
    ///     .await?;
    /// # let _ = snapshot;
    /// # Ok(()) }
    /// ```
    pub fn also(mut self, obj: ManagedObjectReference, paths: &[&str]) -> Self {
        self.specs.push(PropertySpec::new(&obj.kind, paths));
        self.extra.push(obj);
        self
    }
}

/// What an [`InventoryQuery`] returned.
#[derive(Clone, Debug, Default)]
pub struct InventorySnapshot {
    /// Every object, in the server's order.
    pub objects: Vec<ObjectContent>,
}

impl InventorySnapshot {
    /// The objects of `T`'s type, typed.
    ///
    /// ```no_run
    /// # async fn demo(client: &vsphere_client::Client) -> vsphere_client::Result<()> {
    /// use vsphere_client::property::InventoryQuery;
    /// use vsphere_client::mo::{Datastore, Network};
    /// let root = client.service_content().root_folder.clone();
    /// let snapshot = InventoryQuery::new(root).with::<Datastore>().with::<Network>().run(client).await?;
    /// let (datastores, networks) = (snapshot.all::<Datastore>()?, snapshot.all::<Network>()?);
    /// # Ok(()) }
    /// ```
    pub fn all<T: crate::mo::ManagedObject>(&self) -> Result<Vec<T>> {
        self.objects
            .iter()
            .filter(|o| o.obj.kind == T::TYPE)
            .map(T::from_content)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_carry_a_token_and_missing_properties() {
        // Shape of a vCenter 8 RetrievePropertiesEx page with more to come.
        let src = r#"<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><RetrievePropertiesExResponse xmlns="urn:vim25"><returnval><token>1</token><objects><obj type="VirtualMachine">vm-1</obj><propSet><name>name</name><val xsi:type="xsd:string">a</val></propSet><propSet><name>config.template</name><val xsi:type="xsd:boolean">true</val></propSet><missingSet><path>guest.net</path><fault><fault xsi:type="NoPermission"><object type="VirtualMachine">vm-1</object><privilegeId>System.Read</privilegeId></fault></fault></missingSet></objects></returnval></RetrievePropertiesExResponse></soapenv:Body></soapenv:Envelope>"#;
        let response = Response::parse("RetrievePropertiesEx", src.to_string()).unwrap();
        let (objects, token) = contents_and_token(&response).unwrap();
        assert_eq!(token.as_deref(), Some("1"));
        assert_eq!(objects.len(), 1);
        assert_eq!(objects[0].get::<String>("name").unwrap(), "a");
        assert!(objects[0].get::<bool>("config.template").unwrap());
        assert_eq!(
            objects[0].missing,
            [("guest.net".to_string(), "NoPermission".to_string())]
        );
        let err = objects[0].get::<String>("summary").unwrap_err().to_string();
        assert!(
            err.contains("VirtualMachine:vm-1 property 'summary'"),
            "{err}"
        );

        let last = src.replace("<token>1</token>", "");
        let response = Response::parse("ContinueRetrievePropertiesEx", last).unwrap();
        assert_eq!(contents_and_token(&response).unwrap().1, None);
    }
}

#[derive(Serialize)]
struct CreateFilter<'a> {
    #[serde(rename = "_this")]
    this: &'a ManagedObjectReference,
    spec: &'a PropertyFilterSpec,
    #[serde(rename = "partialUpdates")]
    partial_updates: bool,
}

#[derive(Serialize)]
struct WaitOptions {
    #[serde(rename = "maxWaitSeconds")]
    max_wait_seconds: u64,
}

#[derive(Serialize)]
struct WaitForUpdatesEx<'a> {
    #[serde(rename = "_this")]
    this: &'a ManagedObjectReference,
    version: &'a str,
    options: WaitOptions,
}

/// Changes to properties, pushed by the server: a private PropertyCollector
/// with one filter, read with `WaitForUpdatesEx` long polls (never
/// fixed-interval polling). Private, so that concurrent watches in one
/// session do not steal each other's updates.
///
/// Call [`PropertyWatch::destroy`] when done: the collector is session state.
///
/// ```no_run
/// # async fn demo(client: &vsphere_client::Client, lease: vsphere_client::ManagedObjectReference) -> vsphere_client::Result<()> {
/// use std::time::Duration;
/// use vsphere_client::property::{property_changes, ObjectSpec, PropertyFilterSpec, PropertySpec, PropertyWatch};
/// let spec = PropertyFilterSpec {
///     prop_set: vec![PropertySpec::new("HttpNfcLease", &["state"])],
///     object_set: vec![ObjectSpec::object(lease)],
/// };
/// let mut watch = PropertyWatch::create(client, &spec).await?;
/// if let Some(update) = watch.next(client, Duration::from_secs(10)).await? {
///     for change in update.returnval().into_iter().flat_map(property_changes) {
///         println!("{:?} = {:?}", change.child_text("name"), change.child("val").map(|v| &v.text));
///     }
/// }
/// watch.destroy(client).await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct PropertyWatch {
    collector: ManagedObjectReference,
    spec: PropertyFilterSpec,
    version: String,
}

impl PropertyWatch {
    /// Creates the collector and its filter.
    ///
    /// ```no_run
    /// # async fn demo(client: &vsphere_client::Client, task: vsphere_client::ManagedObjectReference) -> vsphere_client::Result<()> {
    /// use vsphere_client::property::{ObjectSpec, PropertyFilterSpec, PropertySpec, PropertyWatch};
    /// let spec = PropertyFilterSpec {
    ///     prop_set: vec![PropertySpec::new("Task", &["info.state"])],
    ///     object_set: vec![ObjectSpec::object(task)],
    /// };
    /// let watch = PropertyWatch::create(client, &spec).await?;
    /// watch.destroy(client).await?;
    /// # Ok(()) }
    /// ```
    pub async fn create(client: &Client, spec: &PropertyFilterSpec) -> Result<PropertyWatch> {
        Ok(PropertyWatch {
            collector: create_collector(client, spec).await?,
            spec: spec.clone(),
            version: String::new(),
        })
    }

    /// The next update (the first call returns every watched property's
    /// current value), or `None` when nothing changed within `max_wait`
    /// (whole seconds; at least one).
    ///
    /// The watch outlives a broken connection and a new session. When the
    /// connection breaks mid-wait, whatever the server sent is lost and a
    /// server need not send it again on that collector; when the server no
    /// longer knows the collector, it belonged to a session the server ended
    /// before the client logged in again. Either way the watch starts afresh
    /// with a new collector, on a new connection, so its next update is the
    /// whole current state: a task that finished meanwhile is seen finished.
    /// One call may thus take longer than `max_wait`: up to four waits and
    /// the pauses between them.
    ///
    /// ```no_run
    /// # async fn demo(client: &vsphere_client::Client, task: vsphere_client::ManagedObjectReference) -> vsphere_client::Result<()> {
    /// use vsphere_client::property::{ObjectSpec, PropertyFilterSpec, PropertySpec, PropertyWatch};
    /// let spec = PropertyFilterSpec {
    ///     prop_set: vec![PropertySpec::new("Task", &["info.state"])],
    ///     object_set: vec![ObjectSpec::object(task)],
    /// };
    /// let mut watch = PropertyWatch::create(client, &spec).await?;
    /// while let Some(update) = watch.next(client, std::time::Duration::from_secs(30)).await? {
    ///     # let _ = update;
    ///     break;
    /// }
    /// watch.destroy(client).await?;
    /// # Ok(()) }
    /// ```
    pub async fn next(&mut self, client: &Client, max_wait: Duration) -> Result<Option<Response>> {
        let mut pauses = RECONNECT_PAUSES.iter();
        let mut collector_recreated = false;
        let mut renew = false;
        loop {
            let error = match self.attempt(client, max_wait, renew).await {
                Ok(update) => return Ok(update),
                Err(error) => error,
            };
            match &error {
                _ if error.is_connection_lost() => {
                    let Some(pause) = pauses.next() else {
                        return Err(error);
                    };
                    tracing::warn!(%error, "connection lost while waiting for updates; reading the current state again");
                    tokio::time::sleep(*pause).await;
                }
                Error::Fault { fault, .. }
                    if !collector_recreated && self.is_lost_collector(&fault.kind) =>
                {
                    tracing::info!(collector = %self.collector.value, "the server no longer knows the property collector; creating a new one");
                    collector_recreated = true;
                }
                _ => return Err(error),
            }
            renew = true;
        }
    }

    /// One wait, on a new collector when `renew`.
    async fn attempt(
        &mut self,
        client: &Client,
        max_wait: Duration,
        renew: bool,
    ) -> Result<Option<Response>> {
        if renew {
            // Best effort: the old collector may be gone already.
            let _ = destroy_collector(client, &self.collector).await;
            self.collector = create_collector(client, &self.spec).await?;
            self.version.clear();
        }
        self.wait_for_updates(client, max_wait).await
    }

    /// Whether a fault says this watch's collector is gone.
    fn is_lost_collector(&self, fault: &FaultKind) -> bool {
        names_lost_collector(fault, &self.collector)
    }

    async fn wait_for_updates(
        &mut self,
        client: &Client,
        max_wait: Duration,
    ) -> Result<Option<Response>> {
        let seconds = max_wait.as_secs().max(1);
        let response = client
            .invoke_with_wait(
                "WaitForUpdatesEx",
                &WaitForUpdatesEx {
                    this: &self.collector,
                    version: &self.version,
                    options: WaitOptions {
                        max_wait_seconds: seconds,
                    },
                },
                Duration::from_secs(seconds),
            )
            .await?;
        let Some(update_set) = response.returnval() else {
            return Ok(None);
        };
        if let Some(v) = update_set.child_text("version") {
            self.version = v.to_string();
        }
        Ok(Some(response))
    }

    /// Destroys the collector (and with it the filter). A collector the
    /// server no longer knows went with the session it ended: nothing to do.
    ///
    /// ```no_run
    /// # async fn demo(client: &vsphere_client::Client, task: vsphere_client::ManagedObjectReference) -> vsphere_client::Result<()> {
    /// use vsphere_client::property::{ObjectSpec, PropertyFilterSpec, PropertySpec, PropertyWatch};
    /// let spec = PropertyFilterSpec {
    ///     prop_set: vec![PropertySpec::new("Task", &["info.state"])],
    ///     object_set: vec![ObjectSpec::object(task)],
    /// };
    /// PropertyWatch::create(client, &spec).await?.destroy(client).await?;
    /// # Ok(()) }
    /// ```
    pub async fn destroy(self, client: &Client) -> Result<()> {
        match destroy_collector(client, &self.collector).await {
            Err(Error::Fault { fault, .. }) if self.is_lost_collector(&fault.kind) => Ok(()),
            other => other,
        }
    }
}

/// A private collector with one filter for `spec`. A session the server
/// ends between the two calls takes the new collector with it (the filter
/// call logs in again and finds no collector): then one more is made.
async fn create_collector(
    client: &Client,
    spec: &PropertyFilterSpec,
) -> Result<ManagedObjectReference> {
    let mut may_try_again = true;
    loop {
        let collector: ManagedObjectReference = client
            .invoke(
                "CreatePropertyCollector",
                &This {
                    this: &client.service_content().property_collector,
                },
            )
            .await?
            .decode_returnval()?;
        let filter = client
            .invoke(
                "CreateFilter",
                &CreateFilter {
                    this: &collector,
                    spec,
                    partial_updates: false,
                },
            )
            .await;
        match filter {
            Ok(_) => return Ok(collector),
            Err(Error::Fault { fault, .. })
                if may_try_again && names_lost_collector(&fault.kind, &collector) =>
            {
                may_try_again = false;
            }
            Err(e) => {
                let _ = destroy_collector(client, &collector).await;
                return Err(e);
            }
        }
    }
}

/// Whether `fault` says the server no longer knows `collector`.
fn names_lost_collector(fault: &FaultKind, collector: &ManagedObjectReference) -> bool {
    matches!(fault, FaultKind::ManagedObjectNotFound { obj: Some(obj) } if obj == collector)
}

async fn destroy_collector(client: &Client, collector: &ManagedObjectReference) -> Result<()> {
    client
        .invoke("DestroyPropertyCollector", &This { this: collector })
        .await?;
    Ok(())
}

/// The `changeSet` elements of an `UpdateSet` (each has `name`, `op` and,
/// unless removed, `val`).
///
/// ```
/// # use vsphere_client::property::property_changes;
/// # fn demo(update_set: &vsphere_client::soap::Node) {
/// for change in property_changes(update_set) {
///     println!("{:?}", change.child_text("name"));
/// }
/// # }
/// ```
pub fn property_changes(update_set: &Node) -> impl Iterator<Item = &Node> {
    update_set
        .children_named("filterSet")
        .flat_map(|f| f.children_named("objectSet"))
        .flat_map(|o| o.children_named("changeSet"))
}
