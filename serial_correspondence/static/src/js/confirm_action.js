/** @odoo-module **/
// "Send e-mails" and "Generate letters" ask the user only after the server
// checked everything they need (Python: _confirmation_action), so that what
// is missing shows at once. Confirmed, the action runs; the form then shows
// the record as it is now (the button reloads it when this action closes).
import { ConfirmationDialog } from "@web/core/confirmation_dialog/confirmation_dialog";
import { registry } from "@web/core/registry";

async function serialCorrespondenceConfirm(env, action) {
    const { body, confirm_label: confirmLabel, res_model: resModel, res_id: resId, method } =
        action.params;
    const confirmed = await new Promise((resolve) => {
        env.services.dialog.add(
            ConfirmationDialog,
            {
                body,
                confirmLabel,
                confirm: () => resolve(true),
                cancel: () => resolve(false),
            },
            { onClose: () => resolve(false) }
        );
    });
    if (!confirmed) {
        return;
    }
    env.services.ui.block();
    let result;
    try {
        result = await env.services.orm.call(resModel, method, [[resId]]);
    } finally {
        env.services.ui.unblock();
    }
    return result && typeof result === "object"
        ? result
        : { type: "ir.actions.act_window_close" };
}

registry.category("actions").add("serial_correspondence_confirm", serialCorrespondenceConfirm);
