from . import serial_correspondence_preview
