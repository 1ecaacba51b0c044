"""``python -m portal_common.topology_export`` prints contracts/topology.json as RabbitMQ definitions;
``--permissions`` prints the broker users' permissions instead (deploy/rabbitmq/permissions.json)."""
import json
import sys

from .broker_users import export_permissions
from .bus import export_definitions, load_topology
from .deadletters import bounding_policies

if __name__ == "__main__":
    topology = load_topology(namespace="")
    if "--permissions" in sys.argv[1:]:
        document = export_permissions(topology)
    else:
        document = export_definitions(topology)
        document["policies"] = bounding_policies()  # the dead-letter queues' bound (see deadletters.py)
    print(json.dumps(document, indent=2))
