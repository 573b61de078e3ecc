/** @odoo-module **/
// Tells the user that the recipients of a serial correspondence have been
// read (or its letters generated): ONE toast, with a button that opens it from
// anywhere in the application. The inbox notification of the same event pops
// up nothing more (see the patch below). When the user is already looking at
// the correspondence, there is no toast: the form shows it as it is now.
import { OutOfFocusService } from "@mail/core/common/out_of_focus_service";
import { _t } from "@web/core/l10n/translation";
import { registry } from "@web/core/registry";
import { patch } from "@web/core/utils/patch";
import { shownCorrespondences } from "./serial_correspondence_form";

const MODEL = "serial.correspondence";

export const serialCorrespondenceNotificationService = {
    dependencies: ["bus_service", "notification", "action"],
    start(env, { bus_service, notification, action }) {
        bus_service.subscribe("serial_correspondence/import_done", async (payload) => {
            const shown = shownCorrespondences(payload.id);
            if (shown.length) {
                // never over unsaved changes: saving reloads the record
                await Promise.all(
                    shown.filter((record) => !record.dirty).map((record) => record.load())
                );
                return;
            }
            const close = notification.add(payload.message, {
                title: payload.title,
                type: "success",
                sticky: true,
                buttons: [
                    {
                        name: _t("Open serial correspondence"),
                        primary: true,
                        onClick: () => {
                            close();
                            action.doAction({
                                type: "ir.actions.act_window",
                                res_model: MODEL,
                                res_id: payload.id,
                                views: [[false, "form"]],
                                target: "current",
                            });
                        },
                    },
                ],
            });
        });
        bus_service.start();
    },
};

registry
    .category("services")
    .add("serial_correspondence_notification", serialCorrespondenceNotificationService);

// The notifications a serial correspondence sends to the inbox (Python:
// message_notify) are told by the toast above: no second pop-up (in Odoo, or
// by the browser) titled with the author's name.
patch(OutOfFocusService.prototype, {
    async notify(message) {
        if (message.thread?.model === MODEL && message.message_type === "user_notification") {
            return;
        }
        return super.notify(...arguments);
    },
});
