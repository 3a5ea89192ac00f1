"""Installation sync: a child installation pushes app documents to a master as XML.

The transport lives here (installation identity, peers, the outbox, signing, the HTTP
client and the receiving endpoint). The content of the documents is up to the apps,
which register a serializer and an applier through `portal.sdk`.
"""
