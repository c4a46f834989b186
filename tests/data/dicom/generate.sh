#!/bin/bash
# Regenerates the DICOM fixtures of tests/unit/test_dicom.c (committed, so
# the tests need neither dcmtk nor pydicom). Needs dcmtk (dump2dcm, img2dcm)
# and python3-pydicom. img2dcm makes a fresh SOP instance UID on every run:
# after regenerating sc-img2dcm.dcm, update its expected UID in the test.
#
#   ct-*.dcm      dump2dcm from ct.dump: explicit VR LE with undefined and
#                 defined lengths (and group lengths), implicit VR LE,
#                 explicit VR big endian; a sequence with decoy ids before
#                 the ids, pixel data after
#   sc-img2dcm.dcm img2dcm of a 4x4 BMP with the ids of sc.dump (a patient
#                 ID with a leading space)
#   mr-*.dcm      pydicom: JPEG baseline (encapsulated pixel data),
#                 implicit VR LE, deflated; defined-length nested sequences,
#                 a private element, UTF-8 patient name
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

dump2dcm -e ct.dump ct-explicit-undef.dcm
dump2dcm +e +g ct.dump ct-explicit-deflen.dcm
dump2dcm +ti -e ct.dump ct-implicit-undef.dcm
dump2dcm +tb ct.dump ct-bigendian.dcm

/usr/bin/python3 - "$tmp/tiny.bmp" <<'EOF'
import struct, sys
w, h = 4, 4
rows = b''.join(bytes([x * 60, y * 60, 100]) for y in range(h) for x in range(w))
off = 54
hdr = b'BM' + struct.pack('<IHHI', off + len(rows), 0, 0, off)
hdr += struct.pack('<IiiHHIIiiII', 40, w, h, 1, 24, 0, len(rows), 2835, 2835, 0, 0)
open(sys.argv[1], 'wb').write(hdr + rows)
EOF
dump2dcm sc.dump "$tmp/sc-template.dcm"
img2dcm -i BMP -df "$tmp/sc-template.dcm" "$tmp/tiny.bmp" sc-img2dcm.dcm

/usr/bin/python3 - <<'EOF'
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.encaps import encapsulate

def make(ts, name, explicit):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = '1.2.840.10008.5.1.4.1.1.4'
    meta.MediaStorageSOPInstanceUID = '1.2.826.0.1.3680043.8.498.3003.1.5'
    meta.TransferSyntaxUID = ts
    meta.ImplementationClassUID = '1.2.826.0.1.3680043.8.498.1'
    ds = FileDataset(name, {}, file_meta=meta, preamble=b'\0' * 128)
    ds.SpecificCharacterSet = 'ISO_IR 192'
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = 'MR'
    item = Dataset()
    item.CodeValue = 'T-A0100'
    item.CodingSchemeDesignator = 'SRT'
    inner = Dataset()
    inner.PatientID = 'DECOY'
    item.PurposeOfReferenceCodeSequence = Sequence([inner])
    ds.ProcedureCodeSequence = Sequence([item, Dataset()])
    ds.PatientName = 'Müller^Jörg'
    ds.PatientID = 'PAT-3003'
    ds.add_new(0x00191010, 'LO', 'private value')
    ds.StudyInstanceUID = '1.2.826.0.1.3680043.8.498.3003'
    ds.SeriesInstanceUID = '1.2.826.0.1.3680043.8.498.3003.1'
    ds.Rows = 2
    ds.Columns = 2
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = 'MONOCHROME2'
    ds.PixelRepresentation = 0
    if ts == '1.2.840.10008.1.2.4.50':
        ds.PixelData = encapsulate([b'\xff\xd8\xff\xd9'])
        ds['PixelData'].VR = 'OB'
        ds['PixelData'].is_undefined_length = True
    else:
        ds.PixelData = b'\x01\x02\x03\x04'
    ds.is_implicit_VR = not explicit
    ds.is_little_endian = True
    ds.save_as(name, write_like_original=False)

make('1.2.840.10008.1.2.4.50', 'mr-jpeg-pydicom.dcm', True)
make('1.2.840.10008.1.2.1.99', 'mr-deflated-pydicom.dcm', True)
make('1.2.840.10008.1.2', 'mr-implicit-pydicom.dcm', False)
EOF
