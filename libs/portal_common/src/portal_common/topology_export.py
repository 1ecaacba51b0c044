"""``python -m portal_common.topology_export`` prints contracts/topology.json as RabbitMQ definitions."""
import json

from .bus import export_definitions, load_topology

if __name__ == "__main__":
    print(json.dumps(export_definitions(load_topology(namespace="")), indent=2))
