from . import test_workflow
from . import test_create
from . import test_import
from . import test_processing_status
from . import test_security
