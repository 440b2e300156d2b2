#!/usr/bin/env python3
"""Validate CPIX documents against the CPIX XML schema in this folder.

Usage: validate.py FILE.xml [FILE.xml ...]   (needs lxml; exit status 1 on any failure)

The schema files are the ones the `cpix` Python package (Unified Streaming, MIT) ships,
unchanged. They describe CPIX 2.2; two CPIX 2.3 changes are applied to the loaded schema
in memory, never to the files:

* `ContentKey@commonEncryptionScheme` (new in CPIX 2.3) is added to ContentKeyType;
* `KeyPeriodFilter@periodId` is typed xs:IDREF instead of xs:ID (as CPIX 2.3 types it:
  with xs:ID, two rules filtering on the same period would be "duplicate ids").

No network access: imports are resolved from this folder, DTDs are not fetched.
"""

import sys
from pathlib import Path

from lxml import etree

HERE = Path(__file__).resolve().parent
XS = "http://www.w3.org/2001/XMLSchema"


class LocalResolver(etree.Resolver):
    def resolve(self, url, pubid, context):
        name = Path(url).name
        local = HERE / name
        if local.is_file():
            return self.resolve_filename(str(local), context)
        return None


def load_schema():
    parser = etree.XMLParser(load_dtd=False, no_network=True, resolve_entities=True)
    parser.resolvers.add(LocalResolver())
    tree = etree.parse(str(HERE / "cpix.xsd"), parser)
    root = tree.getroot()
    ns = {"xs": XS}
    ext = root.find(
        "xs:complexType[@name='ContentKeyType']/xs:complexContent/xs:extension", ns
    )
    if ext is not None and ext.find("xs:attribute[@name='commonEncryptionScheme']", ns) is None:
        attr = etree.SubElement(ext, f"{{{XS}}}attribute")
        attr.set("name", "commonEncryptionScheme")
        attr.set("type", "xs:string")
        attr.set("use", "optional")
    period = root.find(
        "xs:complexType[@name='KeyPeriodFilterType']/xs:attribute[@name='periodId']", ns
    )
    if period is not None:
        period.set("type", "xs:IDREF")
    # The xml: namespace import has no schemaLocation; drop it (nothing here uses xml:*
    # attributes in a way that needs the schema for that namespace).
    for imp in root.findall("xs:import", ns):
        if imp.get("namespace") == "http://www.w3.org/XML/1998/namespace":
            root.remove(imp)
    return etree.XMLSchema(etree.ElementTree(root), attribute_defaults=False)


def main(paths):
    if not paths:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    schema = load_schema()
    parser = etree.XMLParser(load_dtd=False, no_network=True, resolve_entities=False)
    failed = 0
    for p in paths:
        doc = etree.parse(p, parser)
        if schema.validate(doc):
            print(f"{p}: valid")
        else:
            failed += 1
            for err in schema.error_log:
                print(f"{p}:{err.line}: {err.message}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
