/** @odoo-module **/
// The form of a serial correspondence. While it is on screen, the live
// notifications know that the user is looking at this correspondence: they
// then reload it instead of showing a toast (see import_done_service.js).
import { onMounted, onWillUnmount } from "@odoo/owl";
import { registry } from "@web/core/registry";
import { FormController } from "@web/views/form/form_controller";
import { formView } from "@web/views/form/form_view";

const shownForms = new Set();

/**
 * The records of the correspondence forms on screen that show ``resId``.
 *
 * @param {number} resId
 */
export function shownCorrespondences(resId) {
    return [...shownForms]
        .map((form) => form.model.root)
        .filter((record) => record.resId === resId);
}

export class SerialCorrespondenceFormController extends FormController {
    setup() {
        super.setup();
        onMounted(() => shownForms.add(this));
        onWillUnmount(() => shownForms.delete(this));
    }
}

registry.category("views").add("serial_correspondence_form", {
    ...formView,
    Controller: SerialCorrespondenceFormController,
});
