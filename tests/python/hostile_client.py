"""A hostile peer for tests: Transfer calls written frame by frame, with headers built by protobuf's own Python
runtime from proto/ravnest.proto (compiled with protoc into a temporary folder), sent with the job's token
through PeerClient.send_raw_frames so that nothing of ravnest's framing is involved."""

import importlib
import struct
import subprocess
import sys
from pathlib import Path

import torch

from ravnest import _C

PROTO = Path(__file__).resolve().parents[2] / "proto" / "ravnest.proto"

OK, INVALID_ARGUMENT, PERMISSION_DENIED, UNAUTHENTICATED = 0, 3, 7, 16


def load_wire_module(folder):
    """ravnest_pb2, generated into `folder`."""
    subprocess.run(["protoc", f"--proto_path={PROTO.parent}", f"--python_out={folder}", PROTO.name], check=True)
    sys.path.insert(0, str(folder))
    try:
        return importlib.import_module("ravnest_pb2")
    finally:
        sys.path.remove(str(folder))


class HostilePeer:
    def __init__(self, wire, target, token):
        self.wire = wire
        self.target = target
        self.token = token

    def send(self, frames, token=None):
        """Sends raw frames; returns (status code, message)."""
        client = _C.PeerClient("attacker", self.target, auth_token=self.token if token is None else token,
                               deadline=10.0)
        return client.send_raw_frames(frames)

    def header(self, kind, sender, message_id, tensors, ring=None):
        """A MessageHeader for `tensors` ({name: tensor}, sent uncompressed); returns (header, payload bytes)."""
        dtypes = {torch.float32: self.wire.FLOAT32, torch.float64: self.wire.FLOAT64, torch.int64: self.wire.INT64,
                  torch.int32: self.wire.INT32}
        header = self.wire.MessageHeader(kind=kind, sender=sender, id=message_id)
        payload = b""
        for name, tensor in tensors.items():
            data = tensor.contiguous().numpy().tobytes()
            header.tensors.add(name=name, dtype=dtypes[tensor.dtype], shape=list(tensor.shape),
                               codec=self.wire.CODEC_NONE, byte_count=len(data))
            payload += data
        if ring is not None:
            header.ring.CopyFrom(self.wire.RingTag(**ring))
        return header, payload

    @staticmethod
    def first_frame(header, payload=b""):
        serialized = header.SerializeToString()
        return struct.pack("<I", len(serialized)) + serialized + payload

    def message(self, kind, sender, message_id, tensors, ring=None):
        """The frames of a well-formed message."""
        header, payload = self.header(kind, sender, message_id, tensors, ring)
        return [self.first_frame(header, payload)]
