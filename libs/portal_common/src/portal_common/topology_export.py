"""``python -m portal_common.topology_export`` prints contracts/topology.json as RabbitMQ definitions;
``--permissions`` prints the broker users' permissions instead (deploy/rabbitmq/permissions.json)."""
import json
import sys

from .broker_users import export_permissions
from .bus import export_definitions, load_topology

if __name__ == "__main__":
    topology = load_topology(namespace="")
    document = export_permissions(topology) if "--permissions" in sys.argv[1:] else export_definitions(topology)
    print(json.dumps(document, indent=2))
