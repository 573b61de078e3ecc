/** @odoo-module **/
// After sending (issue #12), in the browser, in English and German: the
// results line, the smart buttons and the recipients they open, graph and
// pivot, and the storm brake's banner with "Continue sending".
import { registry } from "@web/core/registry";

const tours = registry.category("web_tour.tours");

function resultsSteps(words) {
    return [
        {
            content: "The results line sums up what happened",
            trigger: `.o_field_widget[name=result_summary]:contains('${words.summary}')`,
        },
        {
            content: "The processing status counts the bounced one too",
            trigger: `.o_group:has(.o_field_widget[name=bounced_count]) label:contains('${words.bounced}')`,
        },
        {
            content: "Smart buttons: sent, bounced, opened",
            trigger: `button[name=action_view_recipients_sent]:contains('${words.sent}'):contains('4')`,
        },
        {
            trigger: `button[name=action_view_recipients_opened]:contains('${words.opened}'):contains('3')`,
        },
        {
            content: "Open the bounced recipient",
            trigger: `button[name=action_view_recipients_bounced]:contains('${words.bounced}'):contains('1')`,
            run: "click",
        },
        {
            content: "One recipient, with the mail server's reason",
            trigger: ".o_list_view .o_data_row:contains('User unknown')",
        },
        {
            trigger: ".o_list_view:not(:has(.o_data_row + .o_data_row))",
        },
        {
            content: "The same recipients as a graph",
            trigger: ".o_switch_view.o_graph",
            run: "click",
        },
        {
            trigger: ".o_graph_renderer canvas",
        },
        {
            content: "and as a pivot table",
            trigger: ".o_switch_view.o_pivot",
            run: "click",
        },
        {
            trigger: `.o_pivot th:contains('${words.bounced}')`,
        },
        {
            content: "Back to the serial e-mail",
            trigger: ".o_breadcrumb .breadcrumb-item a:contains('Neuigkeiten')",
            run: "click",
        },
        {
            trigger: ".o_form_view .o_field_widget[name=result_summary]",
        },
    ];
}

function stormBrakeSteps(words) {
    return [
        {
            content: "The banner says why sending stopped and what to do",
            trigger: `.o_form_view .alert-warning:contains('${words.stormBrake}')`,
        },
        {
            content: "No time to continue at: nothing continues it by itself",
            trigger: ".o_form_view:not(:has(.o_field_widget[name=resume_at]))",
        },
        {
            content: "Continue sending",
            trigger: ".o_form_view .o_statusbar_buttons button[name=action_resume_sending]",
            run: "click",
        },
        {
            content: "Confirm",
            trigger: ".modal-footer .btn-primary",
            run: "click",
        },
        {
            content: "Sending goes on; the banner is gone",
            trigger: `.o_form_view .o_statusbar_status button.o_arrow_button_current:contains('${words.inProgress}')`,
        },
        {
            trigger: ".o_form_view:not(:has(.alert-warning:contains('" + words.stormBrake + "')))",
        },
    ];
}

const english = {
    summary: "Sent 4 · bounced 1 · opened 3 (75 %) · clicked 1 (25 %) · replied 1",
    sent: "Sent",
    bounced: "Bounced",
    opened: "Opened",
    stormBrake: "Stopped by the storm brake",
    inProgress: "In progress",
};
const german = {
    summary: "Versandt 4 · unzustellbar 1 · geöffnet 3 (75 %) · geklickt 1 (25 %) · beantwortet 1",
    sent: "Versandt",
    bounced: "Unzustellbar",
    opened: "Geöffnet",
    stormBrake: "Von der Notbremse angehalten",
    inProgress: "In Arbeit",
};

tours.add("serial_correspondence_results_en", { steps: () => resultsSteps(english) });
tours.add("serial_correspondence_results_de", { steps: () => resultsSteps(german) });
tours.add("serial_correspondence_results_en_storm_brake", {
    steps: () => stormBrakeSteps(english),
});
tours.add("serial_correspondence_results_de_storm_brake", {
    steps: () => stormBrakeSteps(german),
});
