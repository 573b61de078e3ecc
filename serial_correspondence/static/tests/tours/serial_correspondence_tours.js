/** @odoo-module **/
import { registry } from "@web/core/registry";

// Contacts list -> select two contacts -> Action "Create serial e-mail":
// the new correspondence opens at once, reading its recipients.
registry.category("web_tour.tours").add("serial_correspondence_from_contacts", {
    steps: () => [
        {
            content: "Switch the contacts to the list view",
            trigger: ".o_switch_view.o_list",
            run: "click",
        },
        {
            content: "Select the first contact",
            trigger: ".o_data_row:has(td:contains('Tourkontakt A')) .o_list_record_selector input",
            run: "click",
        },
        {
            content: "Select the second contact",
            trigger: ".o_data_row:has(td:contains('Tourkontakt B')) .o_list_record_selector input",
            run: "click",
        },
        {
            content: "Open the actions",
            trigger: ".o_cp_action_menus .dropdown-toggle",
            run: "click",
        },
        {
            content: "Create a serial e-mail",
            trigger: ".o-dropdown--menu .o-dropdown-item:contains('Create serial e-mail')",
            run: "click",
        },
        {
            content: "The correspondence opens, reading recipients",
            trigger:
                ".o_form_view .o_statusbar_status button.o_arrow_button_current:contains('Reading recipients')",
        },
        {
            content: "The job has not started yet: waiting for processing",
            trigger: ".o_field_widget[name=processing_status]:contains('Waiting for processing')",
        },
        {
            content: "The settings stay editable: enter the subject",
            trigger: ".o_field_widget[name=subject] input",
            run: "edit Tour-Rundschreiben",
        },
        {
            content: "Save",
            trigger: ".o_form_button_save",
            run: "click",
        },
        {
            content: "Saved",
            trigger: ".o_form_saved",
        },
    ],
});

// Serial correspondence app -> New -> contact tags -> Save: the import starts.
registry.category("web_tour.tours").add("serial_correspondence_from_form", {
    steps: () => [
        {
            content: "Create a new correspondence",
            trigger: ".o_control_panel_main_buttons .o-kanban-button-new, .o_list_button_add",
            run: "click",
        },
        {
            content: "Subject",
            trigger: ".o_field_widget[name=subject] input",
            run: "edit Einladung Vorstand",
        },
        {
            content: "A serial letter",
            trigger: ".o_field_widget[name=kind] input[data-value=letter]",
            run: "click",
        },
        {
            content: "Open the selection tab",
            trigger: ".o_notebook .nav-link:contains('Selection')",
            run: "click",
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
            content: "Save",
            trigger: ".o_form_button_save",
            run: "click",
        },
        {
            content: "Reading recipients has started",
            trigger:
                ".o_form_view .o_statusbar_status button.o_arrow_button_current:contains('Reading recipients')",
        },
        {
            content: "Waiting for processing",
            trigger: ".o_field_widget[name=processing_status]:contains('Waiting for processing')",
        },
    ],
});
