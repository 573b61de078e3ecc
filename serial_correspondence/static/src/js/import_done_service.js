/** @odoo-module **/
// Shows a toast when the recipients of a serial correspondence have been read,
// with a button that opens it from anywhere in the application.
import { _t } from "@web/core/l10n/translation";
import { registry } from "@web/core/registry";

export const serialCorrespondenceNotificationService = {
    dependencies: ["bus_service", "notification", "action"],
    start(env, { bus_service, notification, action }) {
        bus_service.subscribe("serial_correspondence/import_done", (payload) => {
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
                                res_model: "serial.correspondence",
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
