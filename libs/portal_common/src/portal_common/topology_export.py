"""``python -m portal_common.topology_export`` prints contracts/topology.json as RabbitMQ definitions."""
import json

from .bus import export_definitions, load_topology
from .deadletters import bounding_policies

if __name__ == "__main__":
    definitions = export_definitions(load_topology(namespace=""))
    definitions["policies"] = bounding_policies()  # the dead-letter queues' bound (see deadletters.py)
    print(json.dumps(definitions, indent=2))
