from . import main
from . import tracking
from . import queue_job
