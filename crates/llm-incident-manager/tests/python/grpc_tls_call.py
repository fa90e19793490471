"""Calls the service's gRPC API over TLS with Python's grpcio.

Usage: grpc_tls_call.py PORT CA_FILE PROTO_ROOT [CERT_FILE KEY_FILE]

Generates the stubs from the service's proto with grpc_tools, connects to
localhost:PORT trusting CA_FILE (showing the client certificate when given),
creates an incident, lists incidents, and prints one line:
"ok <id> <number listed>". Any failure exits non-zero with the reason.
"""

import os
import sys
import tempfile

import grpc
from grpc_tools import protoc


def main():
    port, ca_file, proto_root = sys.argv[1:4]
    cert = key = None
    if len(sys.argv) >= 6:
        with open(sys.argv[4], "rb") as f:
            cert = f.read()
        with open(sys.argv[5], "rb") as f:
            key = f.read()
    out = tempfile.mkdtemp(prefix="grpc-tls-stubs-")
    code = protoc.main([
        "protoc",
        "-I" + proto_root,
        "--python_out=" + out,
        "--grpc_python_out=" + out,
        os.path.join("incident", "v1", "incident.proto"),
    ])
    if code != 0:
        sys.exit("protoc failed with %d" % code)
    sys.path.insert(0, out)
    from incident.v1 import incident_pb2, incident_pb2_grpc

    with open(ca_file, "rb") as f:
        ca = f.read()
    credentials = grpc.ssl_channel_credentials(
        root_certificates=ca, private_key=key, certificate_chain=cert
    )
    with grpc.secure_channel("localhost:%s" % port, credentials) as channel:
        stub = incident_pb2_grpc.IncidentServiceStub(channel)
        created = stub.CreateIncident(
            incident_pb2.CreateIncidentRequest(
                title="tls from python",
                severity=incident_pb2.SEVERITY_LOW,
                source="grpcio",
            ),
            timeout=10,
        )
        listed = stub.ListIncidents(incident_pb2.ListIncidentsRequest(), timeout=10)
        print("ok %s %d" % (created.incident.id, len(listed.incidents)))


if __name__ == "__main__":
    main()
