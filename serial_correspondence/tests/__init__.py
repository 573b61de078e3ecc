from . import test_workflow
from . import test_create
from . import test_import
from . import test_processing_status
from . import test_res_partner
from . import test_security
from . import test_ui
