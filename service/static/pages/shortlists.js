/* Officers' shortlist pages (templates pages/shortlists.html, pages/shortlist.html, pages/shortlist_print.html): the
 * pages' one script tag, an ES module. It starts the controller of the page it is on, which the page names in
 * data-officer-page: any other page (or none) starts nothing.
 */
import { root } from "./officers-common.js";
import { start as startList } from "./shortlists-list.js";
import { start as startReview, startPrint } from "./shortlists-review.js";

const page = root && root.dataset.officerPage;
if (page === "shortlists") startList(root);
else if (page === "shortlist") startReview(root);
else if (page === "shortlist-print") startPrint(root);
