"""An independent gRPC client for the operability tests: Debian's
python3-grpcio (the C-core library), raw protobuf bytes, no generated code
and nothing from the project.

  _grpc_probe.py check ADDR CERTS_DIR USER SERVICE   -> {"status": "SERVING"} or {"code": "NOT_FOUND"}
  _grpc_probe.py watch ADDR CERTS_DIR USER N         -> prints each status of "" as it comes, N of them
  _grpc_probe.py services ADDR CERTS_DIR USER VERSION -> {"services": [...]} (VERSION: v1 or v1alpha)
  _grpc_probe.py symbol ADDR CERTS_DIR USER SYMBOL   -> {"files": [...], "bytes": N, "text": "..."}
USER "-" presents no client certificate.
"""
import json
import os
import sys

import grpc

STATUS = {0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}


def varint(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field_bytes(number, value):
    return varint(number << 3 | 2) + varint(len(value)) + value


def fields(message):
    """(number, wire type, value) of each field: ints for varints, bytes otherwise."""
    i = 0
    while i < len(message):
        key, i = read_varint(message, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = read_varint(message, i)
        elif wire == 2:
            length, i = read_varint(message, i)
            value = message[i:i + length]
            i += length
        elif wire == 5:
            value = message[i:i + 4]
            i += 4
        elif wire == 1:
            value = message[i:i + 8]
            i += 8
        else:
            raise ValueError("unexpected wire type %d" % wire)
        yield number, wire, value


def read_varint(data, i):
    result = 0
    shift = 0
    while True:
        b = data[i]
        i += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return result, i


def channel(addr, certs, user):
    def read(name):
        with open(os.path.join(certs, name), "rb") as f:
            return f.read()

    if user == "-":
        creds = grpc.ssl_channel_credentials(root_certificates=read("ca.pem"))
    else:
        creds = grpc.ssl_channel_credentials(
            root_certificates=read("ca.pem"),
            private_key=read(user + "-key.pem"),
            certificate_chain=read(user + ".pem"),
        )
    return grpc.secure_channel(addr, creds, [("grpc.ssl_target_name_override", "localhost")])


def raw(ch, kind, path):
    make = getattr(ch, kind)
    return make(path, request_serializer=lambda b: b, response_deserializer=lambda b: b)


def status_of(message):
    for number, _, value in fields(message):
        if number == 1:
            return STATUS.get(value, str(value))
    return "UNKNOWN"


def check(ch, service):
    call = raw(ch, "unary_unary", "/grpc.health.v1.Health/Check")
    try:
        reply = call(field_bytes(1, service.encode()), timeout=10)
        return {"status": status_of(reply)}
    except grpc.RpcError as err:
        return {"code": err.code().name, "details": err.details()}


def watch(ch, count):
    call = raw(ch, "unary_stream", "/grpc.health.v1.Health/Watch")
    stream = call(field_bytes(1, b""), timeout=60)
    seen = 0
    try:
        for message in stream:
            print(json.dumps({"status": status_of(message)}), flush=True)
            seen += 1
            if seen >= count:
                stream.cancel()
                return
    except grpc.RpcError as err:
        if err.code() != grpc.StatusCode.CANCELLED:
            print(json.dumps({"code": err.code().name}), flush=True)


def reflect(ch, version, request):
    call = raw(ch, "stream_stream", "/grpc.reflection.%s.ServerReflection/ServerReflectionInfo" % version)
    replies = list(call(iter([request]), timeout=10))
    return replies[0]


def services(ch, version):
    reply = reflect(ch, version, field_bytes(7, b"*"))
    names = []
    for number, _, value in fields(reply):
        if number == 6:  # list_services_response
            for n2, _, service in fields(value):
                if n2 == 1:
                    for n3, _, name in fields(service):
                        if n3 == 1:
                            names.append(name.decode())
        if number == 7:
            raise SystemExit("reflection error: %r" % value)
    return {"services": sorted(names)}


def symbol(ch, name):
    reply = reflect(ch, "v1", field_bytes(4, name.encode()))
    files = []
    for number, _, value in fields(reply):
        if number == 4:  # file_descriptor_response
            for n2, _, proto in fields(value):
                if n2 == 1:
                    files.append(proto)
        if number == 7:
            return {"error": value.decode(errors="replace")}
    names = []
    for proto in files:
        for number, _, value in fields(proto):
            if number == 1:  # FileDescriptorProto.name
                names.append(value.decode())
    text = b"".join(files).decode(errors="replace")
    return {"files": names, "bytes": sum(len(f) for f in files), "text": text}


if __name__ == "__main__":
    mode, addr, certs, user = sys.argv[1:5]
    ch = channel(addr, certs, user)
    if mode == "check":
        print(json.dumps(check(ch, sys.argv[5])))
    elif mode == "watch":
        watch(ch, int(sys.argv[5]))
    elif mode == "services":
        try:
            print(json.dumps(services(ch, sys.argv[5])))
        except grpc.RpcError as err:
            print(json.dumps({"code": err.code().name}))
    elif mode == "symbol":
        print(json.dumps(symbol(ch, sys.argv[5])))
    else:
        sys.exit("usage: see the module doc")
