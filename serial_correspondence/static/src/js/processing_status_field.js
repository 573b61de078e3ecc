/** @odoo-module **/
// The "Processing status" badge of a serial correspondence. While background
// work runs (reading recipients, generating, sending), it reloads the form
// every few seconds so the progress bar and the counters move by themselves.
// It never reloads over unsaved changes.
import { onMounted, onWillUnmount } from "@odoo/owl";
import { registry } from "@web/core/registry";
import { BadgeField, badgeField } from "@web/views/fields/badge/badge_field";

const PROCESSING_STATES = ["importing", "in_progress", "waiting"];
const REFRESH_INTERVAL_MS = 2000;

export class ProcessingStatusField extends BadgeField {
    setup() {
        super.setup();
        onMounted(() => {
            this.timer = setInterval(() => this.refresh(), REFRESH_INTERVAL_MS);
        });
        onWillUnmount(() => clearInterval(this.timer));
    }

    async refresh() {
        const record = this.props.record;
        if (record.isNew || record.dirty || !PROCESSING_STATES.includes(record.data.state)) {
            return;
        }
        await record.load();
    }
}

registry.category("fields").add("serial_processing_status", {
    ...badgeField,
    component: ProcessingStatusField,
});
