"""The plain-text alternative, generated from the final HTML.

Links become numbered footnotes so the text stays readable; images become their
description; hidden parts (the preheader) and the layout's tables disappear.
"""

import html2text
from lxml import html as lxml_html

WIDTH = 78


def to_text(document: str) -> str:
    tree = lxml_html.document_fromstring(document)
    for hidden in tree.xpath("//*[contains(translate(@style, ' ', ''), 'display:none')]"):
        hidden.drop_tree()
    for node in tree.xpath("//style | //title | //head"):
        node.drop_tree()
    # Layout tables (role="presentation") are for positioning only; keep their content.
    for table in tree.xpath("//table[@role='presentation']"):
        table.drop_tag()
    for cell in tree.xpath("//*[self::tbody or self::tr or self::td][not(ancestor::table)]"):
        cell.drop_tag()
    converter = html2text.HTML2Text()
    converter.inline_links = False
    converter.images_to_alt = True
    converter.body_width = WIDTH
    converter.unicode_snob = True
    converter.pad_tables = True
    text = converter.handle(lxml_html.tostring(tree, encoding="unicode"))
    lines = [line.rstrip() for line in text.splitlines()]
    cleaned: list[str] = []
    for line in lines:
        if line or (cleaned and cleaned[-1]):
            cleaned.append(line)
    return "\n".join(cleaned).strip() + "\n"
