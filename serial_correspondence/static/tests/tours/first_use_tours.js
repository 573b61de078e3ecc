/** @odoo-module **/
// What a new user runs into (issue #10), in the browser.
import { rpc } from "@web/core/network/rpc";
import { registry } from "@web/core/registry";
import { session } from "@web/session";

const tours = registry.category("web_tour.tours");

/**
 * Read the recipients of the correspondence ``subject`` as queue_job's runner
 * would: its job (enqueued by the test) runs on the server. Then the browser
 * hears of it at once: a server tells the websocket when a transaction
 * commits, which a test never does.
 */
async function readRecipients(subject) {
    const [record] = await rpc("/web/dataset/call_kw/serial.correspondence/search_read", {
        model: "serial.correspondence",
        method: "search_read",
        args: [[["subject", "=", subject]], ["job_uuid"]],
        kwargs: {},
    });
    const response = await fetch(
        `/queue_job/runjob?db=${encodeURIComponent(session.db)}&job_uuid=${record.job_uuid}`
    );
    if (!response.ok) {
        throw new Error(`the job did not run: ${response.status}`);
    }
    odoo.__WOWL_DEBUG__.root.env.services.bus_service.forceUpdateChannels();
}

/**
 * A step that checks the toasts on screen: ``count`` of them, none from
 * OdooBot. The inbox's own pop-up (the one the addon turns off for its
 * notifications) comes a moment after the addon's toast: wait for it.
 */
function expectToasts(count) {
    return {
        content: `${count} toast(s) on screen, none from OdooBot`,
        trigger: "body",
        async run() {
            await new Promise((resolve) => setTimeout(resolve, 1500));
            const toasts = [...document.querySelectorAll(".o_notification")].map(
                (toast) => toast.textContent
            );
            if (toasts.length !== count || toasts.some((text) => text.includes("OdooBot"))) {
                throw new Error(`${toasts.length} toast(s): ${toasts.join(" | ")}`);
            }
        },
    };
}

// Kanban -> New: no quick create in the state columns, and an unsaved
// correspondence shows nothing of processing; the Selection tab counts what
// the contact filter AND the contact tags select.
tours.add("serial_correspondence_first_use_new", {
    steps: () => [
        {
            content: "The kanban shows the states as columns",
            trigger: ".o_kanban_renderer .o_kanban_group .o_kanban_header",
        },
        {
            content: "No quick create (+) in a state column",
            trigger: ".o_kanban_renderer:not(:has(.o_kanban_quick_add))",
        },
        {
            content: "One recipient, in the singular",
            trigger:
                ".o_kanban_record:contains('Tour-Einzelbrief'):contains('1 recipient'):not(:contains('1 recipients'))",
        },
        {
            content: "Create a new correspondence",
            trigger: ".o_control_panel_main_buttons .o-kanban-button-new",
            run: "click",
        },
        {
            content: "It is called a new serial letter, not numbered",
            trigger: ".o_breadcrumb:contains('New serial letter'):not(:contains('#'))",
        },
        {
            content: "No state yet: nothing is being read",
            trigger: ".o_form_view .o_form_sheet_bg:not(:has(.o_statusbar_status))",
        },
        {
            content: "No processing status, no message about reading in the background",
            trigger:
                ".o_form_view .o_form_sheet:not(:has([name=processing_status], [name=import_done])):not(:contains('being read in the background'))",
        },
        {
            content: "A serial e-mail",
            trigger: ".o_field_widget[name=kind] input[data-value=email]",
            run: "click",
        },
        {
            content: "It is called a new serial e-mail",
            trigger: ".o_breadcrumb:contains('New serial e-mail')",
        },
        {
            content: "The recipients are chosen first: the Selection tab is open",
            trigger: ".o_notebook .nav-link.active:contains('Selection')",
        },
        {
            content: "Choose the contact tag",
            trigger: ".o_field_widget[name=partner_category_ids] input",
            run: "edit Tourvorstand",
        },
        {
            content: "Pick it",
            trigger: ".o-autocomplete--dropdown-item:contains('Tourvorstand')",
            run: "click",
        },
        {
            content: "The empty filter AND the tag select the two contacts with the tag",
            trigger: ".o_field_widget[name=selected_partner_count]:contains('2')",
        },
        {
            content: "The filter's own count ('all records') is not shown",
            trigger:
                ".o_field_widget[name=partner_domain]:not(:has(.o_domain_show_selection_button:visible))",
        },
        {
            content: "Discard",
            trigger: ".o_form_button_cancel",
            run: "click",
        },
        {
            content: "Back in the kanban",
            trigger: ".o_kanban_renderer",
        },
    ],
});

// The form of a correspondence whose recipients are being read: when they
// are all read, the form shows it, and nothing pops up.
tours.add("serial_correspondence_first_use_read_on_the_record", {
    steps: () => [
        {
            content: "Reading recipients",
            trigger:
                ".o_form_view .o_statusbar_status button.o_arrow_button_current:contains('Reading recipients')",
        },
        {
            content: "The recipients are read in the background",
            trigger: ".o_form_view",
            run: () => readRecipients("Tour-Einlesen"),
        },
        {
            content: "The form shows the correspondence ready",
            trigger:
                ".o_form_view .o_statusbar_status button.o_arrow_button_current:contains('Ready')",
        },
        {
            content: "... and its recipients",
            trigger: ".o_form_view .o_field_widget[name=recipient_ids] .o_data_row",
        },
        // no toast, no pop-up covers the form
        expectToasts(0),
    ],
});

// Elsewhere in the application: ONE toast, which opens the correspondence.
tours.add("serial_correspondence_first_use_read_elsewhere", {
    steps: () => [
        {
            content: "The kanban of serial correspondence",
            trigger: ".o_kanban_renderer .o_kanban_record",
        },
        {
            content: "The recipients are read in the background",
            trigger: ".o_kanban_renderer",
            run: () => readRecipients("Tour-Einlesen"),
        },
        {
            content: "A toast says the recipients have been read",
            trigger:
                ".o_notification:contains('Recipients read'):contains('All 2 recipients of Tour-Einlesen have been read.')",
        },
        // only one: no second pop-up from OdooBot
        expectToasts(1),
        {
            content: "Open the correspondence from the toast",
            trigger: ".o_notification button:contains('Open serial correspondence')",
            run: "click",
        },
        {
            content: "It opens, ready",
            trigger:
                ".o_form_view:has(.o_breadcrumb:contains('Tour-Einlesen')) .o_statusbar_status button.o_arrow_button_current:contains('Ready')",
        },
    ],
});

// "Send e-mails" without subject and template: the error at once, no question
// first; with them: the question, then sending starts.
tours.add("serial_correspondence_first_use_send", {
    steps: () => [
        {
            content: "Send e-mails",
            trigger: ".o_form_view .o_statusbar_buttons button:contains('Send e-mails')",
            run: "click",
        },
        {
            content: "At once: what is missing",
            trigger: ".modal .modal-body:contains('a subject and a template')",
        },
        {
            content: "No question was asked before",
            trigger: "body:not(:has(.modal:contains('Send this serial e-mail now')))",
        },
        {
            content: "Close the message",
            trigger: ".modal .modal-footer button",
            run: "click",
        },
        {
            content: "Enter the subject",
            trigger: "body:not(:has(.modal)) .o_field_widget[name=subject] input",
            run: "edit Tour-Info",
        },
        {
            content: "Choose the template",
            trigger: ".o_field_widget[name=template_id] input",
            run: "edit Tourvorlage",
        },
        {
            content: "Pick it",
            trigger: ".o-autocomplete--dropdown-item:contains('Tourvorlage')",
            run: "click",
        },
        {
            content: "Send e-mails",
            trigger: ".o_form_view .o_statusbar_buttons button:contains('Send e-mails')",
            run: "click",
        },
        {
            content: "Now the question",
            trigger: ".modal .modal-body:contains('Send this serial e-mail now')",
        },
        {
            content: "Yes",
            trigger: ".modal .modal-footer button.btn-primary:contains('Send e-mails')",
            run: "click",
        },
        {
            content: "Sending has started",
            trigger:
                "body:not(:has(.modal)) .o_form_view .o_statusbar_status button.o_arrow_button_current:contains('In progress')",
        },
    ],
});

// A correspondence being processed: its recipients offer no delete anywhere.
tours.add("serial_correspondence_first_use_locked_recipients", {
    steps: () => [
        {
            content: "In progress",
            trigger:
                ".o_form_view .o_statusbar_status button.o_arrow_button_current:contains('In progress')",
        },
        {
            content: "The recipients in the form",
            trigger: ".o_field_widget[name=recipient_ids] .o_data_row",
        },
        {
            content: "... have no delete icon",
            trigger: ".o_field_widget[name=recipient_ids]:not(:has(.o_list_record_remove))",
        },
        {
            content: "Open the list of recipients",
            trigger: ".o_form_view button[name=action_view_recipients]",
            run: "click",
        },
        {
            content: "Select them all",
            trigger: ".o_list_view thead .o_list_record_selector input",
            run: "click",
        },
        {
            content: "Open the actions",
            trigger: ".o_cp_action_menus .dropdown-toggle:contains('Actions')",
            run: "click",
        },
        {
            content: "Export, but no Delete",
            trigger:
                ".o-dropdown--menu:has(.o-dropdown-item:contains('Export')):not(:has(.o-dropdown-item:contains('Delete')))",
        },
    ],
});

// German: the label of the background job does not break inside a word.
tours.add("serial_correspondence_first_use_german_labels", {
    steps: () => [
        {
            content: "The processing status, in German",
            trigger:
                ".o_form_view label.o_form_label[for^=processing_status]:contains('Hintergrundverarbeitung')",
            run() {
                const label = document.querySelector(
                    ".o_form_view label.o_form_label[for^=processing_status]"
                );
                const range = document.createRange();
                range.selectNodeContents(label);
                const lines = new Set(
                    [...range.getClientRects()].map((rect) => Math.round(rect.top))
                );
                if (lines.size !== 1) {
                    throw new Error(
                        `"${label.textContent}" breaks over ${lines.size} lines`
                    );
                }
            },
        },
    ],
});
