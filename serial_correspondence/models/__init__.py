from . import workflow
from . import serial_correspondence_tag
from . import serial_correspondence
from . import serial_correspondence_sending
from . import serial_correspondence_recipient
from . import res_partner
