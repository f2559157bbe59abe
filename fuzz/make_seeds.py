#!/usr/bin/env python3
"""Writes the fuzzers' seed inputs into fuzz/seeds/<target>/ (checked in).

Run from anywhere: python3 fuzz/make_seeds.py. The seeds are small valid
inputs in the shapes the parsers meet in practice; most are copied from the
crates' tests and fixtures. Rerunning rewrites them byte for byte.
"""
import base64
import io
import pathlib
import tarfile

FUZZ = pathlib.Path(__file__).resolve().parent
ROOT = FUZZ.parent
SEEDS = FUZZ / "seeds"


def write(target, name, data):
    d = SEEDS / target
    d.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    (d / name).write_bytes(data)


# --- soap_response -------------------------------------------------------
for f in sorted((ROOT / "vsphere-client/tests/fixtures").glob("fault-*.xml")):
    write("soap_response", f.name, f.read_bytes())
ENV = ('<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
       'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
       'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>{}'
       '</soapenv:Body></soapenv:Envelope>')
write("soap_response", "retrieve-properties-ex.xml", ENV.format(
    '<RetrievePropertiesExResponse xmlns="urn:vim25"><returnval><token>1</token>'
    '<objects><obj type="VirtualMachine">vm-1</obj><propSet><name>name</name>'
    '<val xsi:type="xsd:string">a &amp; b</val></propSet><propSet><name>config.template</name>'
    '<val xsi:type="xsd:boolean">true</val></propSet><missingSet><path>guest.net</path>'
    '<fault><fault xsi:type="NoPermission"><object type="VirtualMachine">vm-1</object>'
    '<privilegeId>System.Read</privilegeId></fault></fault></missingSet></objects>'
    '</returnval></RetrievePropertiesExResponse>'))
write("soap_response", "wait-for-updates-ex.xml", ENV.format(
    '<WaitForUpdatesExResponse><returnval><version>2</version><filterSet><objectSet>'
    '<changeSet><name>info.error</name><op>assign</op><val xsi:type="LocalizedMethodFault">'
    '<fault xsi:type="InvalidPowerState"><requestedState>poweredOff</requestedState>'
    '<existingState>poweredOff</existingState></fault><localizedMessage>Powered off'
    '</localizedMessage></val></changeSet></objectSet></filterSet></returnval>'
    '</WaitForUpdatesExResponse>'))
write("soap_response", "find-by-inventory-path.xml", ENV.format(
    '<FindByInventoryPathResponse xmlns="urn:vim25"><returnval type="Folder">group-v3'
    '</returnval></FindByInventoryPathResponse>'))
write("soap_response", "device-spec.xml",
      '<r xmlns:XMLSchema-instance="http://www.w3.org/2001/XMLSchema-instance"><spec>'
      '<device XMLSchema-instance:type="VirtualDisk"><key>1</key><label>a&amp;b</label>'
      '<![CDATA[x<y]]></device></spec></r>')
write("soap_response", "duplicate-name-fault.xml", ENV.format(
    '<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring></faultstring>'
    '<detail><DuplicateNameFault xmlns="urn:vim25" xsi:type="DuplicateName"><name>vm</name>'
    '<object type="VirtualMachine">vm-7</object><faultMessage><key>k</key>'
    '<message>exists</message></faultMessage></DuplicateNameFault></detail></soapenv:Fault>'))

# --- ovf_envelope --------------------------------------------------------
ovf_src = (ROOT / "ova-import/src/ovf.rs").read_text()
start = ovf_src.index('const BOTTLEROCKET: &str = r#"') + len('const BOTTLEROCKET: &str = r#"')
bottlerocket = ovf_src[start:ovf_src.index('"#;', start)]
lsilogic = """<Item>
        <rasd:Address>0</rasd:Address>
        <rasd:ElementName>SCSI controller 0</rasd:ElementName>
        <rasd:InstanceID>4</rasd:InstanceID>
        <rasd:ResourceSubType>lsilogic</rasd:ResourceSubType>
        <rasd:ResourceType>6</rasd:ResourceType>
      </Item>"""
nvme = """<Item>
        <rasd:Address>0</rasd:Address>
        <rasd:ElementName>NVMe controller 0</rasd:ElementName>
        <rasd:InstanceID>4</rasd:InstanceID>
        <rasd:ResourceSubType>vmware.nvme.controller</rasd:ResourceSubType>
        <rasd:ResourceType>20</rasd:ResourceType>
      </Item>"""
write("ovf_envelope", "bottlerocket-lsilogic.ovf", bottlerocket.replace("{controller}", lsilogic))
write("ovf_envelope", "bottlerocket-nvme.ovf", "\ufeff" + bottlerocket.replace("{controller}", nvme))
write("ovf_envelope", "minimal.ovf",
      '<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" '
      'xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" '
      'xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData">'
      '<References><File ovf:id="f" ovf:href="disk.vmdk" ovf:size="1024"/></References>'
      '<DiskSection><Info>d</Info><Disk ovf:diskId="d" ovf:fileRef="f" ovf:capacity="1"/></DiskSection>'
      '<NetworkSection><Info>n</Info><Network ovf:name="VM Network"/></NetworkSection>'
      '<VirtualSystem ovf:id="vm"><Info>v</Info><VirtualHardwareSection><Info>h</Info>'
      '<Item><rasd:InstanceID>3</rasd:InstanceID><rasd:ResourceType>6</rasd:ResourceType></Item>'
      '<Item><rasd:HostResource>ovf:/disk/d</rasd:HostResource><rasd:InstanceID>5</rasd:InstanceID>'
      '<rasd:Parent>3</rasd:Parent><rasd:ResourceType>17</rasd:ResourceType></Item>'
      '</VirtualHardwareSection></VirtualSystem></Envelope>')

# --- manifest ------------------------------------------------------------
write("manifest", "sha256.mf",
      f"SHA256(bottlerocket.ovf)= {'ab' * 32}\nSHA256(disk-0.vmdk)= {'0f' * 32}\n")
write("manifest", "mixed.mf",
      f"\ufeffSHA1 (x.ovf) = {'CD' * 20}\r\nSHA2-512(d.vmdk)={'9' * 128}\r\n\r\nsha-256( y.nvram )= {'e' * 64}\n")

# --- tar_stream (first byte: chunking and read mode; see tar_stream.rs) ----
def tar_bytes(fmt, members):
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    data = out.getvalue().rstrip(b"\0")
    # Keep the end-of-archive marker, drop the rest of tarfile's 10 KiB record.
    return data + b"\0" * (-len(data) % 512 + 1024)

ova = [("vm.ovf", b"<Envelope/>"), ("vm.mf", b"SHA256(vm.ovf)= " + b"ab" * 32 + b"\n")]
long_name = "d/" + "x" * 120 + ".vmdk"
write("tar_stream", "ustar-skip", b"\x00" + tar_bytes(tarfile.USTAR_FORMAT, ova))
write("tar_stream", "ustar-reader-1byte", b"\x10" + tar_bytes(tarfile.USTAR_FORMAT, ova))
write("tar_stream", "gnu-longname-read", b"\x2d" + tar_bytes(tarfile.GNU_FORMAT, [(long_name, b"\x07" * 600)]))
write("tar_stream", "pax-read-pending", b"\xfb" + tar_bytes(tarfile.PAX_FORMAT, [("./" + long_name, b"\x07" * 513), ("vm.ovf", b"<E/>")]))

# --- capv_yaml -------------------------------------------------------------
model = (ROOT / "capv-shim/src/model.rs").read_text()

def rust_const(name):
    start = model.index(f'const {name}: &str = "\\\n') + len(f'const {name}: &str = "\\\n')
    return model[start:model.index('";\n', start)].replace('\\"', '"')

cp, etcd, worker = rust_const("CP"), rust_const("ETCD"), rust_const("WORKER")
toml = '[settings.kubernetes]\napi-server = "https://192.168.31.3:6443"\ncluster-name = "homelab"\n'
secret = ("apiVersion: v1\nkind: Secret\nmetadata:\n  name: homelab-etcd-1\n  namespace: eksa-system\n"
          "type: cluster.x-k8s.io/secret\ndata:\n"
          f"  format: {base64.b64encode(b'bottlerocket').decode()}\n"
          f"  value: {base64.b64encode(toml.encode()).decode()}\n")
write("capv_yaml", "vsphere-machine.yaml", cp)
write("capv_yaml", "vsphere-vm.yaml", etcd)
write("capv_yaml", "machine-template.yaml", worker)
write("capv_yaml", "all.yaml", f"---\n{cp}---\n{etcd}---\n{worker}---\n{secret}")
write("capv_yaml", "string-data-secret.yaml",
      "apiVersion: v1\nkind: Secret\nmetadata: {name: w-1}\nstringData: {value: '[settings]', format: bottlerocket}\n"
      "---\n# nothing\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: eksa}\n")

# --- cluster_config ----------------------------------------------------------
write("cluster_config", "eksa-homelab.yaml",
      (ROOT / "vsphere-client/tests/fixtures/eksa-homelab.yaml").read_bytes())
