/** @odoo-module **/
// Before and while sending (issue #11), in the browser: preview, the check of
// the recipients, a test e-mail, "Send at" and "Stop".
import { registry } from "@web/core/registry";

const tours = registry.category("web_tour.tours");

tours.add("serial_correspondence_before_sending", {
    steps: () => [
        // -- preview and test e-mail -------------------------------------------------
        {
            content: "Open the preview",
            trigger: ".o_form_view .o_statusbar_buttons button:contains('Preview')",
            run: "click",
        },
        {
            content: "The subject as the first recipient gets it",
            trigger: ".modal .o_field_widget[name=preview_subject]:contains('Information für Tourkontakt A')",
        },
        {
            content: "The text as the first recipient gets it",
            trigger: ".modal .o_field_widget[name=preview_body]",
            async run() {
                // the preview is shown in a sandboxed frame
                const deadline = Date.now() + 5000;
                for (;;) {
                    const frame = document.querySelector(
                        ".modal .o_field_widget[name=preview_body] iframe"
                    );
                    const field = document.querySelector(
                        ".modal .o_field_widget[name=preview_body]"
                    );
                    const text =
                        (frame && frame.contentDocument && frame.contentDocument.body.textContent) ||
                        field.textContent;
                    if (text.includes("Hallo Tourkontakt A")) {
                        return;
                    }
                    if (Date.now() > deadline) {
                        throw new Error(`preview shows: ${text}`);
                    }
                    await new Promise((resolve) => setTimeout(resolve, 100));
                }
            },
        },
        {
            content: "Type where the test e-mail goes",
            trigger: ".modal .o_field_widget[name=email_to] input",
            run: "edit pruefer@example.com",
        },
        {
            content: "Send the test e-mail",
            trigger: ".modal button[name=action_send_test]",
            run: "click",
        },
        {
            content: "It was sent, the dialog is closed",
            trigger: "body:not(:has(.modal)) .o_notification:contains('pruefer@example.com')",
        },
        // -- who will be excluded --------------------------------------------------------
        {
            content: "Check the recipients",
            trigger: ".o_form_view .o_statusbar_buttons button:contains('Check recipients')",
            run: "click",
        },
        {
            content: "The result, grouped: the contact without address is an error",
            trigger: ".o_list_view .o_group_name:contains('Error')",
        },
        {
            content: "Back to the correspondence",
            trigger: ".o_breadcrumb .breadcrumb-item a:contains('Information')",
            run: "click",
        },
        {
            content: "The form shows what the check found",
            trigger: ".o_form_view .o_field_widget[name=check_summary]:contains('2 OK, 0 excluded, 1 with errors')",
        },
        // -- send at, then stop --------------------------------------------------------------
        {
            content: "Plan the sending for later",
            trigger: ".o_form_view .o_field_widget[name=scheduled_at] input",
            run: "edit 12/31/2030 10:00:00",
        },
        {
            content: "Save",
            trigger: ".o_form_view .o_form_button_save",
            run: "click",
        },
        {
            content: "Send e-mails",
            trigger: ".o_form_view:not(:has(.o_form_dirty)) .o_statusbar_buttons button:contains('Send e-mails')",
            run: "click",
        },
        {
            content: "Confirm",
            trigger: ".modal .modal-footer button.btn-primary",
            run: "click",
        },
        {
            content: "It waits for the planned time, visibly",
            trigger:
                "body:not(:has(.modal)) .o_form_view .o_statusbar_status button.o_arrow_button_current:contains('Waiting')",
        },
        {
            content: "Stop",
            trigger: ".o_form_view .o_statusbar_buttons button:contains('Stop')",
            run: "click",
        },
        {
            content: "Confirm stopping",
            trigger: ".modal .modal-footer button.btn-primary",
            run: "click",
        },
        {
            content: "Ready again: nothing was sent",
            trigger:
                "body:not(:has(.modal)) .o_form_view .o_statusbar_status button.o_arrow_button_current:contains('Ready')",
        },
    ],
});
