/* Officers' shortlist pages (templates pages/shortlists.html and pages/shortlist.html): the pages' one script tag,
 * an ES module. It starts the controller of the page it is on, which the page names in data-officer-page: any
 * other page (or none) starts nothing.
 */
import { root } from "./officers-common.js";
import { start as startList } from "./shortlists-list.js";
import { start as startReview } from "./shortlists-review.js";

if (root && root.dataset.officerPage === "shortlists") startList(root);
else if (root && root.dataset.officerPage === "shortlist") startReview(root);
