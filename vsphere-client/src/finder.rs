//! Inventory lookups with govc's path semantics.
//!
//! The [`Finder`] reads the name and parent of every inventory object once
//! (one container view, one batched retrieval) and answers every lookup from
//! that snapshot, so resolving many paths costs no further round trips.
//!
//! Path forms, as govc accepts them:
//! - absolute: `/DC0/vm/folder/name`, with globs per element (`*`, `?`, `[]`);
//! - datacenter-relative: `vm/folder/name`, or `./vm/name`; a relative path
//!   that matches nothing under the datacenter is also tried under the
//!   kind's folder, so `*/Resources` means `/DC0/host/*/Resources`;
//! - a bare name (no `/`): searched recursively under the datacenter folder
//!   for the kind (`vm`, `host`, `datastore`, `network`);
//! - a managed object reference: `vm-123` or `VirtualMachine:vm-123`.

use std::collections::HashMap;
use std::fmt;

use crate::error::Result;
use crate::property::{InventoryQuery, InventorySnapshot};
use crate::session::Client;
use crate::types::ManagedObjectReference;

/// An inventory lookup failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FindError {
    /// Nothing matches.
    #[error("{kind} '{path}' not found{}", hint.as_ref().map(|h| format!(" ({h})")).unwrap_or_default())]
    NotFound {
        /// What was looked for.
        kind: InventoryKind,
        /// The path as given.
        path: String,
        /// Where it was looked for, or what to try.
        hint: Option<String>,
    },
    /// More than one object matches where one was needed.
    #[error("{kind} '{path}' resolves to {} objects, please specify one:\n  {}", matches.len(), matches.join("\n  "))]
    Ambiguous {
        /// What was looked for.
        kind: InventoryKind,
        /// The path as given.
        path: String,
        /// Inventory paths of every match.
        matches: Vec<String>,
    },
    /// The path exists but names objects of another type.
    #[error("'{path}' is {found}, not {}", kind.with_article())]
    WrongKind {
        /// What was looked for.
        kind: InventoryKind,
        /// The path as given.
        path: String,
        /// What it is, e.g. `a Folder (/DC0/vm)`.
        found: String,
    },
    /// The path cannot be used.
    #[error("invalid inventory path '{path}': {reason}")]
    InvalidPath {
        /// The path as given.
        path: String,
        /// Why.
        reason: String,
    },
}

/// The kinds of inventory object a lookup can ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum InventoryKind {
    /// Anything.
    Any,
    /// `Datacenter`.
    Datacenter,
    /// `Folder`.
    Folder,
    /// `VirtualMachine` (VMs and templates).
    VirtualMachine,
    /// `Datastore`.
    Datastore,
    /// `Network`, `DistributedVirtualPortgroup` or `OpaqueNetwork`.
    Network,
    /// `ResourcePool` or `VirtualApp`.
    ResourcePool,
    /// `HostSystem`.
    HostSystem,
    /// `ClusterComputeResource`.
    Cluster,
    /// `ComputeResource` or `ClusterComputeResource`.
    ComputeResource,
    /// `DistributedVirtualSwitch`.
    DistributedVirtualSwitch,
}

/// Every type the finder reads.
const ENTITY_TYPES: &[&str] = &[
    "Folder",
    "Datacenter",
    "ClusterComputeResource",
    "ComputeResource",
    "HostSystem",
    "ResourcePool",
    "VirtualApp",
    "VirtualMachine",
    "Datastore",
    "StoragePod",
    "Network",
    "DistributedVirtualPortgroup",
    "OpaqueNetwork",
    "VmwareDistributedVirtualSwitch",
];

impl InventoryKind {
    /// The vim25 types of this kind.
    ///
    /// ```
    /// use vsphere_client::finder::InventoryKind;
    /// assert!(InventoryKind::Network.types().contains(&"DistributedVirtualPortgroup"));
    /// ```
    pub fn types(self) -> &'static [&'static str] {
        match self {
            InventoryKind::Any => ENTITY_TYPES,
            InventoryKind::Datacenter => &["Datacenter"],
            InventoryKind::Folder => &["Folder"],
            InventoryKind::VirtualMachine => &["VirtualMachine"],
            InventoryKind::Datastore => &["Datastore"],
            InventoryKind::Network => &["Network", "DistributedVirtualPortgroup", "OpaqueNetwork"],
            InventoryKind::ResourcePool => &["ResourcePool", "VirtualApp"],
            InventoryKind::HostSystem => &["HostSystem"],
            InventoryKind::Cluster => &["ClusterComputeResource"],
            InventoryKind::ComputeResource => &["ComputeResource", "ClusterComputeResource"],
            InventoryKind::DistributedVirtualSwitch => {
                &["VmwareDistributedVirtualSwitch", "DistributedVirtualSwitch"]
            }
        }
    }

    /// The datacenter folder objects of this kind live under.
    ///
    /// ```
    /// use vsphere_client::finder::InventoryKind;
    /// assert_eq!(InventoryKind::ResourcePool.datacenter_folder(), Some("host"));
    /// assert_eq!(InventoryKind::Datacenter.datacenter_folder(), None);
    /// ```
    pub fn datacenter_folder(self) -> Option<&'static str> {
        match self {
            InventoryKind::VirtualMachine => Some("vm"),
            InventoryKind::Datastore => Some("datastore"),
            InventoryKind::Network | InventoryKind::DistributedVirtualSwitch => Some("network"),
            InventoryKind::ResourcePool
            | InventoryKind::HostSystem
            | InventoryKind::Cluster
            | InventoryKind::ComputeResource => Some("host"),
            InventoryKind::Any | InventoryKind::Datacenter | InventoryKind::Folder => None,
        }
    }

    /// govc's `find -type` letters (`m` VM, `s` datastore, `n` network...), or
    /// a vim25 type name.
    ///
    /// ```
    /// use vsphere_client::finder::InventoryKind;
    /// assert_eq!(InventoryKind::from_govc_type("m"), Some(InventoryKind::VirtualMachine));
    /// assert_eq!(InventoryKind::from_govc_type("Datastore"), Some(InventoryKind::Datastore));
    /// assert_eq!(InventoryKind::from_govc_type("x"), None);
    /// ```
    pub fn from_govc_type(s: &str) -> Option<InventoryKind> {
        Some(match s {
            "a" | "p" | "ResourcePool" | "VirtualApp" => InventoryKind::ResourcePool,
            "c" | "ClusterComputeResource" => InventoryKind::Cluster,
            "d" | "Datacenter" => InventoryKind::Datacenter,
            "f" | "Folder" => InventoryKind::Folder,
            "g" | "n" | "o" | "Network" | "DistributedVirtualPortgroup" | "OpaqueNetwork" => {
                InventoryKind::Network
            }
            "h" | "HostSystem" => InventoryKind::HostSystem,
            "m" | "VirtualMachine" => InventoryKind::VirtualMachine,
            "r" | "ComputeResource" => InventoryKind::ComputeResource,
            "s" | "Datastore" => InventoryKind::Datastore,
            "w" | "DistributedVirtualSwitch" | "VmwareDistributedVirtualSwitch" => {
                InventoryKind::DistributedVirtualSwitch
            }
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            InventoryKind::Any => "object",
            InventoryKind::Datacenter => "datacenter",
            InventoryKind::Folder => "folder",
            InventoryKind::VirtualMachine => "VM",
            InventoryKind::Datastore => "datastore",
            InventoryKind::Network => "network",
            InventoryKind::ResourcePool => "resource pool",
            InventoryKind::HostSystem => "host",
            InventoryKind::Cluster => "cluster",
            InventoryKind::ComputeResource => "compute resource",
            InventoryKind::DistributedVirtualSwitch => "distributed switch",
        }
    }

    fn with_article(self) -> String {
        let article = if matches!(self, InventoryKind::Any) {
            "an"
        } else {
            "a"
        };
        format!("{article} {}", self.name())
    }

    fn accepts(self, vim_type: &str) -> bool {
        self.types().contains(&vim_type)
    }
}

impl fmt::Display for InventoryKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One object found, with its inventory path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InventoryElement {
    /// The object.
    pub obj: ManagedObjectReference,
    /// Its name.
    pub name: String,
    /// Its inventory path, e.g. `/DC0/vm/DC0_H0_VM0`.
    pub path: String,
}

#[derive(Clone, Debug)]
struct Entity {
    name: String,
    parent: Option<ManagedObjectReference>,
}

/// The name and parent of every inventory object.
#[derive(Clone, Debug)]
pub struct Inventory {
    root: ManagedObjectReference,
    entities: HashMap<ManagedObjectReference, Entity>,
    children: HashMap<ManagedObjectReference, Vec<ManagedObjectReference>>,
}

impl Inventory {
    /// Reads the whole inventory tree (names and parents only).
    ///
    /// ```no_run
    /// # async fn demo(client: &vsphere_client::Client) -> vsphere_client::Result<()> {
    /// let inventory = vsphere_client::finder::Inventory::load(client).await?;
    /// println!("{} objects", inventory.len());
    /// # Ok(()) }
    /// ```
    pub async fn load(client: &Client) -> Result<Inventory> {
        let root = client.service_content().root_folder.clone();
        let snapshot = Inventory::query(root.clone()).run(client).await?;
        Inventory::from_snapshot(root, &snapshot)
    }

    /// A query reading what an inventory needs (`name` and `parent` of every
    /// entity type); add more properties of the same types to it with
    /// [`InventoryQuery::with_paths`] and build the inventory with
    /// [`Inventory::from_snapshot`] from the same answer.
    ///
    /// ```no_run
    /// # async fn demo(client: &vsphere_client::Client) -> vsphere_client::Result<()> {
    /// use vsphere_client::finder::Inventory;
    /// let root = client.service_content().root_folder.clone();
    /// let snapshot = Inventory::query(root.clone()).with_paths("Datastore", &["summary"]).run(client).await?;
    /// let inventory = Inventory::from_snapshot(root, &snapshot)?;
    /// # let _ = inventory;
    /// # Ok(()) }
    /// ```
    pub fn query(root: ManagedObjectReference) -> InventoryQuery {
        ENTITY_TYPES.iter().fold(InventoryQuery::new(root), |q, t| {
            q.with_paths(t, &["name", "parent"])
        })
    }

    /// Builds the inventory from a snapshot that read `name` and `parent`.
    pub fn from_snapshot(
        root: ManagedObjectReference,
        snapshot: &InventorySnapshot,
    ) -> Result<Inventory> {
        let mut entities = HashMap::new();
        for content in snapshot
            .objects
            .iter()
            .filter(|o| ENTITY_TYPES.contains(&o.obj.kind.as_str()))
        {
            let name: String = content.get_opt("name")?.unwrap_or_default();
            let parent: Option<ManagedObjectReference> = content.get_opt("parent")?;
            entities.insert(content.obj.clone(), Entity { name, parent });
        }
        entities.insert(
            root.clone(),
            Entity {
                name: String::new(),
                parent: None,
            },
        );
        Ok(Inventory::from_entities(root, entities))
    }

    fn from_entities(
        root: ManagedObjectReference,
        entities: HashMap<ManagedObjectReference, Entity>,
    ) -> Inventory {
        let mut children: HashMap<ManagedObjectReference, Vec<ManagedObjectReference>> =
            HashMap::new();
        for (obj, e) in &entities {
            if let Some(parent) = &e.parent {
                children
                    .entry(parent.clone())
                    .or_default()
                    .push(obj.clone());
            }
        }
        for list in children.values_mut() {
            list.sort_by(|a, b| {
                let name = |o: &ManagedObjectReference| {
                    entities.get(o).map(|e| e.name.clone()).unwrap_or_default()
                };
                name(a).cmp(&name(b)).then_with(|| a.cmp(b))
            });
        }
        Inventory {
            root,
            entities,
            children,
        }
    }

    /// The inventory path of an object (`/` for the root folder).
    ///
    /// ```no_run
    /// # async fn demo(client: &vsphere_client::Client) -> vsphere_client::Result<()> {
    /// let inventory = vsphere_client::finder::Inventory::load(client).await?;
    /// let root = client.service_content().root_folder.clone();
    /// assert_eq!(inventory.path_of(&root).as_deref(), Some("/"));
    /// # Ok(()) }
    /// ```
    pub fn path_of(&self, obj: &ManagedObjectReference) -> Option<String> {
        let mut parts = Vec::new();
        let mut current = obj;
        let mut guard = 0;
        while current != &self.root {
            let entity = self.entities.get(current)?;
            parts.push(escape_name(&entity.name));
            current = entity.parent.as_ref()?;
            guard += 1;
            if guard > 256 {
                return None;
            }
        }
        parts.reverse();
        Some(format!("/{}", parts.join("/")))
    }

    /// How many objects the inventory holds.
    pub fn len(&self) -> usize {
        self.entities.len()
    }

    /// Whether the inventory is empty.
    pub fn is_empty(&self) -> bool {
        self.entities.is_empty()
    }

    fn element(&self, obj: &ManagedObjectReference) -> InventoryElement {
        InventoryElement {
            obj: obj.clone(),
            name: self
                .entities
                .get(obj)
                .map(|e| e.name.clone())
                .unwrap_or_default(),
            path: self.path_of(obj).unwrap_or_else(|| obj.to_string()),
        }
    }

    fn children_of(&self, obj: &ManagedObjectReference) -> &[ManagedObjectReference] {
        self.children
            .get(obj)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    fn descendants(&self, obj: &ManagedObjectReference) -> Vec<ManagedObjectReference> {
        let mut out = Vec::new();
        let mut stack: Vec<&ManagedObjectReference> = self.children_of(obj).iter().rev().collect();
        while let Some(o) = stack.pop() {
            out.push(o.clone());
            stack.extend(self.children_of(o).iter().rev());
        }
        out
    }

    /// Objects matched by glob `parts`, element by element, from `start`.
    fn walk(&self, start: &ManagedObjectReference, parts: &[&str]) -> Vec<ManagedObjectReference> {
        let mut current = vec![start.clone()];
        for part in parts {
            let mut next = Vec::new();
            for obj in &current {
                for child in self.children_of(obj) {
                    let name = self
                        .entities
                        .get(child)
                        .map(|e| e.name.as_str())
                        .unwrap_or_default();
                    if glob_match(part, &escape_name(name)) || glob_match(part, name) {
                        next.push(child.clone());
                    }
                }
            }
            current = next;
        }
        current
    }
}

/// vCenter escapes `/` and `%` in inventory names.
fn escape_name(name: &str) -> String {
    name.replace('%', "%25").replace('/', "%2f")
}

/// Resolves govc-style paths against one inventory snapshot.
///
/// ```no_run
/// # async fn demo(client: &vsphere_client::Client) -> vsphere_client::Result<()> {
/// use vsphere_client::finder::{Finder, InventoryKind};
/// let finder = Finder::load(client, None).await?;
/// let pool = finder.find_one(InventoryKind::ResourcePool, "/DC0/host/DC0_C0/Resources")?;
/// let vm = finder.find_one(InventoryKind::VirtualMachine, "DC0_H0_VM0")?;
/// println!("{} {}", pool.path, vm.obj);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Finder {
    inventory: Inventory,
    datacenter: Option<String>,
}

impl Finder {
    /// Loads the inventory. `datacenter` is the default datacenter (name,
    /// path or glob, like `GOVC_DATACENTER`); without one, the only
    /// datacenter is the default.
    ///
    /// ```no_run
    /// # async fn demo(client: &vsphere_client::Client) -> vsphere_client::Result<()> {
    /// use vsphere_client::finder::Finder;
    /// let finder = Finder::load(client, Some("DC0")).await?;
    /// println!("{}", finder.datacenter()?.path);
    /// # Ok(()) }
    /// ```
    pub async fn load(client: &Client, datacenter: Option<&str>) -> Result<Finder> {
        Ok(Finder::new(Inventory::load(client).await?, datacenter))
    }

    /// A finder over an inventory already loaded.
    pub fn new(inventory: Inventory, datacenter: Option<&str>) -> Finder {
        Finder {
            inventory,
            datacenter: datacenter.map(str::to_string).filter(|d| !d.is_empty()),
        }
    }

    /// The same finder with another default datacenter (name, path or glob).
    ///
    /// ```no_run
    /// # async fn demo(client: &vsphere_client::Client) -> vsphere_client::Result<()> {
    /// use vsphere_client::finder::Finder;
    /// let finder = Finder::load(client, None).await?.with_datacenter("DC1");
    /// # let _ = finder;
    /// # Ok(()) }
    /// ```
    pub fn with_datacenter(self, datacenter: &str) -> Finder {
        Finder::new(self.inventory, Some(datacenter))
    }

    /// The inventory snapshot.
    pub fn inventory(&self) -> &Inventory {
        &self.inventory
    }

    /// The default datacenter: the configured one, or the only one.
    ///
    /// ```no_run
    /// # async fn demo(client: &vsphere_client::Client) -> vsphere_client::Result<()> {
    /// let finder = vsphere_client::finder::Finder::load(client, None).await?;
    /// match finder.datacenter() {
    ///     Ok(dc) => println!("default datacenter {}", dc.path),
    ///     Err(e) => eprintln!("{e}"), // none, or several: set GOVC_DATACENTER
    /// }
    /// # Ok(()) }
    /// ```
    pub fn datacenter(&self) -> Result<InventoryElement, FindError> {
        match &self.datacenter {
            Some(dc) => self.find_one(InventoryKind::Datacenter, dc),
            None => {
                let mut all = self.all_datacenters();
                match all.len() {
                    1 => Ok(all.remove(0)),
                    0 => Err(FindError::NotFound {
                        kind: InventoryKind::Datacenter,
                        path: "*".into(),
                        hint: Some("the server has no datacenter".into()),
                    }),
                    _ => Err(FindError::Ambiguous {
                        kind: InventoryKind::Datacenter,
                        path: "*".into(),
                        matches: all.into_iter().map(|e| e.path).collect(),
                    }
                    .with_hint_for_default()),
                }
            }
        }
    }

    fn all_datacenters(&self) -> Vec<InventoryElement> {
        self.inventory
            .descendants(&self.inventory.root)
            .iter()
            .filter(|o| o.kind == "Datacenter")
            .map(|o| self.inventory.element(o))
            .collect()
    }

    /// Every object of `kind` that `path` names (possibly none).
    ///
    /// ```no_run
    /// # async fn demo(client: &vsphere_client::Client) -> vsphere_client::Result<()> {
    /// use vsphere_client::finder::{Finder, InventoryKind};
    /// let finder = Finder::load(client, None).await?;
    /// for pool in finder.find_all(InventoryKind::ResourcePool, "*/Resources")? {
    ///     println!("{}", pool.path);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn find_all(
        &self,
        kind: InventoryKind,
        path: &str,
    ) -> Result<Vec<InventoryElement>, FindError> {
        let path = path.trim();
        if path.is_empty() {
            return Err(FindError::InvalidPath {
                path: path.into(),
                reason: "it is empty".into(),
            });
        }
        if path.split('/').any(|p| p == "..") {
            return Err(FindError::InvalidPath {
                path: path.into(),
                reason: "'..' is not supported; give the path from the datacenter or from /".into(),
            });
        }
        if !path.contains('/') {
            if let Ok(moref) = path.parse::<ManagedObjectReference>() {
                if self.inventory.entities.contains_key(&moref) {
                    return self.typed(kind, path, vec![moref]);
                }
                if path.contains(':') {
                    return Ok(Vec::new());
                }
            }
        }
        let candidates = if let Some(absolute) = path.strip_prefix('/') {
            self.inventory.walk(&self.inventory.root, &split(absolute))
        } else if !path.contains('/') && kind == InventoryKind::Datacenter {
            self.inventory
                .descendants(&self.inventory.root)
                .into_iter()
                .filter(|o| o.kind == "Datacenter" && self.name_matches(path, o))
                .collect()
        } else if !path.contains('/') {
            self.search(kind, path)?
        } else {
            self.relative(kind, path)?
        };
        self.typed(kind, path, candidates)
    }

    /// Exactly one object of `kind` named by `path`.
    ///
    /// ```no_run
    /// # async fn demo(client: &vsphere_client::Client) -> vsphere_client::Result<()> {
    /// use vsphere_client::finder::{Finder, InventoryKind};
    /// let finder = Finder::load(client, None).await?;
    /// let ds = finder.find_one(InventoryKind::Datastore, "LocalDS_0")?;
    /// println!("{} is {}", ds.path, ds.obj);
    /// # Ok(()) }
    /// ```
    pub fn find_one(&self, kind: InventoryKind, path: &str) -> Result<InventoryElement, FindError> {
        let mut found = self.find_all(kind, path)?;
        match found.len() {
            0 => Err(self.not_found(kind, path)),
            1 => Ok(found.remove(0)),
            _ => Err(FindError::Ambiguous {
                kind,
                path: path.to_string(),
                matches: found.into_iter().map(|e| e.path).collect(),
            }),
        }
    }

    /// The children of the object at `path` (govc `ls`). Without a path: the
    /// default datacenter's folders.
    ///
    /// ```no_run
    /// # async fn demo(client: &vsphere_client::Client) -> vsphere_client::Result<()> {
    /// let finder = vsphere_client::finder::Finder::load(client, None).await?;
    /// for child in finder.list(Some("/DC0/host"))? {
    ///     println!("{}", child.path);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn list(&self, path: Option<&str>) -> Result<Vec<InventoryElement>, FindError> {
        let parents = match path {
            None => vec![self.datacenter()?.obj],
            Some("/") => vec![self.inventory.root.clone()],
            Some(p) => {
                let found = self.find_all(InventoryKind::Any, p)?;
                if found.is_empty() {
                    return Err(self.not_found(InventoryKind::Any, p));
                }
                found.into_iter().map(|e| e.obj).collect()
            }
        };
        Ok(parents
            .iter()
            .flat_map(|p| self.inventory.children_of(p).iter())
            .map(|o| self.inventory.element(o))
            .collect())
    }

    /// Every object of `kind` below `root` (recursively) whose name matches
    /// the glob `name` (govc `find`).
    ///
    /// ```no_run
    /// # async fn demo(client: &vsphere_client::Client) -> vsphere_client::Result<()> {
    /// use vsphere_client::finder::{Finder, InventoryKind};
    /// let finder = Finder::load(client, None).await?;
    /// let templates = finder.find_below(Some("/DC0/vm"), InventoryKind::VirtualMachine, "bottlerocket-*")?;
    /// # let _ = templates;
    /// # Ok(()) }
    /// ```
    pub fn find_below(
        &self,
        root: Option<&str>,
        kind: InventoryKind,
        name: &str,
    ) -> Result<Vec<InventoryElement>, FindError> {
        let start = match root {
            None => self.inventory.root.clone(),
            Some("/") => self.inventory.root.clone(),
            Some(r) => self.find_one(InventoryKind::Any, r)?.obj,
        };
        Ok(self
            .inventory
            .descendants(&start)
            .iter()
            .filter(|o| kind.accepts(&o.kind) && self.name_matches(name, o))
            .map(|o| self.inventory.element(o))
            .collect())
    }

    fn datacenter_obj(&self) -> Result<ManagedObjectReference, FindError> {
        Ok(self.datacenter()?.obj)
    }

    fn kind_folder(
        &self,
        kind: InventoryKind,
    ) -> Result<Option<ManagedObjectReference>, FindError> {
        let Some(folder) = kind.datacenter_folder() else {
            return Ok(None);
        };
        let dc = self.datacenter_obj()?;
        Ok(self.inventory.walk(&dc, &[folder]).into_iter().next())
    }

    /// Bare name: recursive search under the kind's folder.
    fn search(
        &self,
        kind: InventoryKind,
        name: &str,
    ) -> Result<Vec<ManagedObjectReference>, FindError> {
        let start = match self.kind_folder(kind)? {
            Some(folder) => folder,
            None => self.datacenter_obj()?,
        };
        Ok(self
            .inventory
            .descendants(&start)
            .into_iter()
            .filter(|o| kind.accepts(&o.kind) && self.name_matches(name, o))
            .collect())
    }

    fn name_matches(&self, pattern: &str, obj: &ManagedObjectReference) -> bool {
        let name = self
            .inventory
            .entities
            .get(obj)
            .map(|e| e.name.as_str())
            .unwrap_or_default();
        glob_match(pattern, name) || glob_match(pattern, &escape_name(name))
    }

    /// Relative path: under the datacenter, else under the kind's folder.
    fn relative(
        &self,
        kind: InventoryKind,
        path: &str,
    ) -> Result<Vec<ManagedObjectReference>, FindError> {
        if kind == InventoryKind::Datacenter {
            return Ok(self.inventory.walk(&self.inventory.root, &split(path)));
        }
        let dc = self.datacenter_obj()?;
        if let Some(rest) = path.strip_prefix("./") {
            return Ok(self.inventory.walk(&dc, &split(rest)));
        }
        let parts = split(path);
        let under_dc: Vec<_> = self
            .inventory
            .walk(&dc, &parts)
            .into_iter()
            .filter(|o| kind.accepts(&o.kind))
            .collect();
        if !under_dc.is_empty() {
            return Ok(under_dc);
        }
        match self.kind_folder(kind)? {
            Some(folder) => {
                let under_folder = self.inventory.walk(&folder, &parts);
                if under_folder.is_empty() {
                    Ok(self.inventory.walk(&dc, &parts))
                } else {
                    Ok(under_folder)
                }
            }
            None => Ok(self.inventory.walk(&dc, &parts)),
        }
    }

    fn typed(
        &self,
        kind: InventoryKind,
        path: &str,
        found: Vec<ManagedObjectReference>,
    ) -> Result<Vec<InventoryElement>, FindError> {
        let (wanted, other): (Vec<_>, Vec<_>) =
            found.into_iter().partition(|o| kind.accepts(&o.kind));
        if wanted.is_empty() {
            if let Some(o) = other.first() {
                return Err(FindError::WrongKind {
                    kind,
                    path: path.to_string(),
                    found: format!("a {} ({})", o.kind, self.inventory.element(o).path),
                });
            }
        }
        Ok(wanted.iter().map(|o| self.inventory.element(o)).collect())
    }

    fn not_found(&self, kind: InventoryKind, path: &str) -> FindError {
        let hint = if path.starts_with('/') {
            Some("check each element with `vsctl ls`".to_string())
        } else if kind == InventoryKind::Datacenter {
            Some("list them with `vsctl ls /`".to_string())
        } else {
            match (self.datacenter().ok(), kind.datacenter_folder()) {
                (Some(dc), Some(folder)) => {
                    Some(format!("looked under {} and {}/{folder}", dc.path, dc.path))
                }
                (Some(dc), None) => Some(format!("looked under {}", dc.path)),
                _ => None,
            }
        };
        FindError::NotFound {
            kind,
            path: path.to_string(),
            hint,
        }
    }
}

impl FindError {
    fn with_hint_for_default(self) -> FindError {
        match self {
            FindError::Ambiguous { kind, matches, .. } => FindError::Ambiguous {
                kind,
                path: "* (default datacenter; set --dc or GOVC_DATACENTER)".into(),
                matches,
            },
            other => other,
        }
    }
}

fn split(path: &str) -> Vec<&str> {
    path.split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect()
}

/// Go's `path.Match` for one path element: `*` any run of characters, `?`
/// one character, `[a-z]` / `[^a-z]` classes, `\` escapes. A malformed
/// pattern matches nothing.
///
/// ```
/// use vsphere_client::finder::glob_match;
/// assert!(glob_match("DC0_*", "DC0_C0"));
/// assert!(glob_match("VM[0-9]", "VM7"));
/// assert!(!glob_match("VM[^0-9]", "VM7"));
/// assert!(glob_match("a?c", "abc"));
/// ```
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    match_from(&p, &n).unwrap_or(false)
}

/// `None` when the pattern is malformed.
fn match_from(p: &[char], n: &[char]) -> Option<bool> {
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() {
            match p[pi] {
                '*' => {
                    star = Some((pi, ni));
                    pi += 1;
                    continue;
                }
                '?' => {
                    pi += 1;
                    ni += 1;
                    continue;
                }
                '[' => {
                    let (matched, len) = class(&p[pi..], n[ni])?;
                    if matched {
                        pi += len;
                        ni += 1;
                        continue;
                    }
                }
                '\\' => {
                    let c = *p.get(pi + 1)?;
                    if c == n[ni] {
                        pi += 2;
                        ni += 1;
                        continue;
                    }
                }
                c if c == n[ni] => {
                    pi += 1;
                    ni += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((sp, sn)) => {
                pi = sp + 1;
                ni = sn + 1;
                star = Some((sp, sn + 1));
            }
            None => {
                // Still validate the rest of the pattern.
                validate(&p[pi..])?;
                return Some(false);
            }
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    validate(&p[pi..])?;
    Some(pi == p.len())
}

fn validate(p: &[char]) -> Option<()> {
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            '[' => i += class(&p[i..], '\0')?.1,
            '\\' => {
                p.get(i + 1)?;
                i += 2;
            }
            _ => i += 1,
        }
    }
    Some(())
}

/// Matches a `[...]` class at the start of `p`; returns (matched, length).
fn class(p: &[char], c: char) -> Option<(bool, usize)> {
    let mut i = 1;
    let negated = p.get(i) == Some(&'^');
    if negated {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let ch = *p.get(i)?;
        if ch == ']' && !first {
            return Some((matched != negated, i + 1));
        }
        first = false;
        let lo = if ch == '\\' {
            i += 1;
            *p.get(i)?
        } else {
            ch
        };
        i += 1;
        let mut hi = lo;
        if p.get(i) == Some(&'-') && p.get(i + 1).is_some_and(|c| *c != ']') {
            i += 1;
            hi = *p.get(i)?;
            if hi == '\\' {
                i += 1;
                hi = *p.get(i)?;
            }
            i += 1;
        }
        if lo <= c && c <= hi {
            matched = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_semantics_follow_go_path_match() {
        assert!(glob_match("*", "anything"));
        assert!(glob_match("*", ""));
        assert!(glob_match("*/Resources", "*/Resources"));
        assert!(glob_match("DC0_*_VM?", "DC0_H0_VM0"));
        assert!(!glob_match("DC0_*_VM?", "DC0_H0_VM10"));
        assert!(glob_match("[a-c]x", "bx"));
        assert!(!glob_match("[a-c]x", "dx"));
        assert!(glob_match("[^a-c]x", "dx"));
        assert!(glob_match("a\\*b", "a*b"));
        assert!(!glob_match("a\\*b", "axb"));
        assert!(glob_match("*.vmdk", "disk.vmdk"));
        assert!(glob_match("**x", "abx"));
        // Malformed patterns match nothing rather than panicking.
        assert!(!glob_match("[a-", "a"));
        assert!(!glob_match("a\\", "a"));
        assert!(!glob_match("[", "["));
    }

    fn mo(kind: &str, id: &str) -> ManagedObjectReference {
        ManagedObjectReference::new(kind, id)
    }

    fn inventory() -> Inventory {
        let root = mo("Folder", "group-d1");
        let mut e = HashMap::new();
        let mut add = |kind: &str, id: &str, name: &str, parent: &ManagedObjectReference| {
            e.insert(
                mo(kind, id),
                Entity {
                    name: name.into(),
                    parent: Some(parent.clone()),
                },
            );
            mo(kind, id)
        };
        let dc = add("Datacenter", "datacenter-2", "DC0", &root);
        let vm = add("Folder", "group-v3", "vm", &dc);
        let host = add("Folder", "group-h4", "host", &dc);
        let ds = add("Folder", "group-s5", "datastore", &dc);
        let net = add("Folder", "group-n6", "network", &dc);
        let cluster = add("ClusterComputeResource", "domain-c7", "DC0_C0", &host);
        add("ResourcePool", "resgroup-8", "Resources", &cluster);
        let standalone = add("ComputeResource", "domain-s9", "DC0_H0", &host);
        add("ResourcePool", "resgroup-10", "Resources", &standalone);
        add("HostSystem", "host-11", "DC0_H0", &standalone);
        let sub = add("Folder", "group-v12", "k8s", &vm);
        add("VirtualMachine", "vm-13", "DC0_H0_VM0", &vm);
        add("VirtualMachine", "vm-14", "cp-1", &sub);
        add("Datastore", "datastore-15", "LocalDS_0", &ds);
        add("Network", "network-16", "VM Network", &net);
        add(
            "DistributedVirtualPortgroup",
            "dvportgroup-17",
            "DC0_DVPG0",
            &net,
        );
        add("Network", "network-18", "a/b", &net);
        e.insert(
            root.clone(),
            Entity {
                name: String::new(),
                parent: None,
            },
        );
        Inventory::from_entities(root, e)
    }

    #[test]
    fn path_forms() {
        let f = Finder::new(inventory(), None);
        let vm = InventoryKind::VirtualMachine;
        assert_eq!(
            f.find_one(vm, "/DC0/vm/DC0_H0_VM0").unwrap().obj.value,
            "vm-13"
        );
        assert_eq!(
            f.find_one(vm, "vm/k8s/cp-1").unwrap().path,
            "/DC0/vm/k8s/cp-1"
        );
        assert_eq!(f.find_one(vm, "k8s/cp-1").unwrap().obj.value, "vm-14");
        assert_eq!(f.find_one(vm, "./vm/k8s/cp-1").unwrap().obj.value, "vm-14");
        assert_eq!(f.find_one(vm, "cp-1").unwrap().obj.value, "vm-14");
        assert_eq!(f.find_one(vm, "vm-14").unwrap().name, "cp-1");
        assert_eq!(
            f.find_one(vm, "VirtualMachine:vm-13").unwrap().name,
            "DC0_H0_VM0"
        );
        assert_eq!(
            f.find_one(InventoryKind::Network, "DC0_DVPG0")
                .unwrap()
                .obj
                .kind,
            "DistributedVirtualPortgroup"
        );
        assert_eq!(
            f.find_one(InventoryKind::Network, "a%2fb").unwrap().path,
            "/DC0/network/a%2fb"
        );
        assert_eq!(f.datacenter().unwrap().path, "/DC0");
        assert_eq!(
            f.find_one(InventoryKind::Datacenter, "DC0")
                .unwrap()
                .obj
                .value,
            "datacenter-2"
        );
    }

    #[test]
    fn globs_and_ambiguity() {
        let f = Finder::new(inventory(), None);
        let err = f
            .find_one(InventoryKind::ResourcePool, "*/Resources")
            .unwrap_err();
        match &err {
            FindError::Ambiguous { matches, .. } => assert_eq!(
                matches,
                &[
                    "/DC0/host/DC0_C0/Resources".to_string(),
                    "/DC0/host/DC0_H0/Resources".to_string()
                ]
            ),
            other => panic!("{other:?}"),
        }
        assert!(err.to_string().contains("resolves to 2 objects"), "{err}");
        assert_eq!(
            f.find_one(InventoryKind::ResourcePool, "DC0_C0/Resources")
                .unwrap()
                .obj
                .value,
            "resgroup-8"
        );
        assert_eq!(
            f.find_all(InventoryKind::VirtualMachine, "/DC0/vm/*")
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            f.find_below(None, InventoryKind::VirtualMachine, "*")
                .unwrap()
                .len(),
            2
        );
    }

    #[test]
    fn errors_say_what_and_where() {
        let f = Finder::new(inventory(), None);
        let err = f
            .find_one(InventoryKind::VirtualMachine, "nope")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "VM 'nope' not found (looked under /DC0 and /DC0/vm)"
        );
        let err = f.find_one(InventoryKind::Datastore, "/DC0/vm").unwrap_err();
        assert_eq!(
            err.to_string(),
            "'/DC0/vm' is a Folder (/DC0/vm), not a datastore"
        );
        let err = f
            .find_one(InventoryKind::VirtualMachine, "../x")
            .unwrap_err();
        assert!(matches!(err, FindError::InvalidPath { .. }));
        assert!(f
            .find_all(InventoryKind::VirtualMachine, "VirtualMachine:vm-999")
            .unwrap()
            .is_empty());
        let err = Finder::new(inventory(), Some("DC9"))
            .datacenter()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "datacenter 'DC9' not found (list them with `vsctl ls /`)"
        );
    }

    #[test]
    fn listing() {
        let f = Finder::new(inventory(), None);
        let names: Vec<String> = f.list(None).unwrap().into_iter().map(|e| e.path).collect();
        assert_eq!(
            names,
            ["/DC0/datastore", "/DC0/host", "/DC0/network", "/DC0/vm"]
        );
        let root: Vec<String> = f
            .list(Some("/"))
            .unwrap()
            .into_iter()
            .map(|e| e.path)
            .collect();
        assert_eq!(root, ["/DC0"]);
    }
}
